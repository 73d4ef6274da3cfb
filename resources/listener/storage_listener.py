"""The C-STORE SCP behind ``dicom-lake listen``: receives what the PACS forwards and spools it.

Every instance is written to the spool atomically (temporary file, rename) and its receipt is
recorded in the spool index (source ``listener``). With ``listener.fsync`` on (the default) it is
first appended to this process's journal (:mod:`resources.listener.journal`) and Success waits only
until an fdatasync of the journal covers it (one fdatasync serves every association of the process
that appended meanwhile); the file and row are written behind, in batches, and an A-RELEASE waits
for them. With it off, the file and row (group commit, ``group_commit.py``) come before Success. The
order is in ``receive_writer.py``. The spool files and rows are flushed at the journal's
checkpoints; a crash or a power cut
before that is repaired at start-up from the journal (``journal_recovery.py``). If the write fails
(disk full, permissions) the sender gets ``0xA700`` (Refused: out of resources) so that the
PACS keeps the instance and sends it again. An instance without any date cannot be placed in a study
date partition: it is kept in quarantine (``listener/undated``) with the reason, counted, and
acknowledged, so the sender does not loop on it.

The receive path (:meth:`StorageListener.receive`, where that guarantee is implemented) avoids decoding
datasets: it takes the encoded bytes as sent, the SOP UIDs from the C-STORE request, and reads only the
study/series UIDs and dates from the header (:mod:`resources.spool.instance_header`). Either engine
serves the port: the native acceptor (:mod:`resources.dicom_network.acceptor`) or pynetdicom
(:mod:`resources.listener.pynetdicom_engine`). Several listener processes may share one port
(``SO_REUSEPORT``), which is how one machine keeps up with several concurrent senders.

Log lines name AE titles, addresses, counts and SOP Instance UIDs, never patient data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from resources.dicom_network.acceptor import NativeAcceptor
from resources.dicom_network.status import StoreStatus
from resources.listener.engine_settings import ENGINES, acceptor_settings
from resources.listener.errors import ListenerConfigError
from resources.listener.pynetdicom_engine import PynetdicomEngine
from resources.listener.receive_writer import SOURCE, ReceiveWriter
from resources.listener.storage_contexts import storage_contexts
from resources.partition_keys import qualify
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings
from resources.spool.errors import SpoolWriteError, UnreadableInstanceError
from resources.spool.instance_header import read_instance_header
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

__all__ = ["SOURCE", "ListenerStats", "StorageListener"]
QUARANTINE_STAGE = "listener"
UNDATED_PARTITION = "undated"
UNREADABLE_PARTITION = "unreadable"


@dataclass
class ListenerStats:
    """Counters since start (what the health endpoint and the shutdown line report)."""

    started_at: float = field(default_factory=time.time)
    associations_accepted: int = 0
    associations_refused: int = 0
    associations_aborted: int = 0
    instances_stored: int = 0
    instances_quarantined_undated: int = 0
    instances_unreadable: int = 0
    write_failures: int = 0
    # The journal (listener.fsync on): records, fdatasyncs (records / fsyncs = mean group size), the
    # largest group, checkpoints; and what the start-up recovery replayed.
    journal_records: int = 0
    journal_fsyncs: int = 0
    journal_largest_group: int = 0
    journal_fsync_ms: int = 0
    journal_checkpoints: int = 0
    # Behind the acknowledgement (journal_split): instances written to the spool and indexed, index
    # transactions, the largest queue, failed tries; what waits now, and why (a write error).
    split_instances: int = 0
    split_batches: int = 0
    split_largest_backlog: int = 0
    split_failures: int = 0
    split_backlog: int = 0
    spool_write_error: str | None = None
    recovered_records: int = 0
    recovered_files_written: int = 0
    recovered_rows_recorded: int = 0
    recovered_torn_records: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StorageListener:
    """A C-STORE SCP that spools what it receives.

    Parameters
    ----------
    settings
        The ``listener`` section of the site file (AE title, bind address, port, allow-lists ...).
    spool
        Where received instances go (``source='listener'``).
    quarantine
        Where undated or unreadable instances go, with the reason.
    reuse_port
        Bind with ``SO_REUSEPORT`` so several listener processes can share the port.
    ssl_context
        TLS context (see :func:`resources.listener.tls.tls_context`); None = plain TCP.
    partition_source
        With several sources, the source whose forwards arrive here: its name qualifies each
        instance's study-date partition key (``2026-11-09|east``). None: the key is the date.
    status_file
        If given, a JSON heartbeat (pid, port, counters) rewritten every few seconds while serving:
        ``dicom-lake health`` reads it.

    Raises
    ------
    ListenerConfigError
        If no calling AE title is allowed or the engine is unknown.
    """

    def __init__(
        self,
        settings: ListenerSettings,
        spool: SpoolStore,
        quarantine: QuarantineStore,
        *,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        status_file: Path | None = None,
        heartbeat_s: float = 5.0,
        partition_source: str | None = None,
    ) -> None:
        if not settings.allowed_calling_ae_titles:
            raise ListenerConfigError(
                "listener.allowed_calling_ae_titles is empty: nobody may send; "
                "list the PACS AE title(s) that forward to this listener"
            )
        self.settings = settings
        self.spool = spool
        self.quarantine = quarantine
        self.reuse_port = reuse_port
        self.ssl_context = ssl_context
        self.status_file = status_file
        self.heartbeat_s = heartbeat_s
        self.partition_source = partition_source
        if settings.engine not in ENGINES:
            raise ListenerConfigError(
                f"unknown listener engine {settings.engine!r} (one of {', '.join(ENGINES)})"
            )
        self.engine = settings.engine
        self.stats = ListenerStats()
        self._lock = threading.Lock()
        self.writer = ReceiveWriter(spool)
        self._engine: NativeAcceptor | PynetdicomEngine | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> int:
        """Start serving in background threads; returns the bound port.

        Raises
        ------
        OSError
            If the address cannot be bound.
        """
        report = self.writer.open()
        self.stats.recovered_records = report.records
        self.stats.recovered_files_written = report.files_written
        self.stats.recovered_rows_recorded = report.rows_recorded
        self.stats.recovered_torn_records = report.torn_records
        contexts = storage_contexts()
        engine: NativeAcceptor | PynetdicomEngine
        if self.engine == "native":
            engine = NativeAcceptor(
                acceptor_settings(self.settings, contexts),
                self,
                bind=(self.settings.bind_address, self.settings.port),
                reuse_port=self.reuse_port,
                ssl_context=self.ssl_context,
            )
        else:
            engine = PynetdicomEngine(
                self.settings, self, contexts, reuse_port=self.reuse_port, ssl_context=self.ssl_context
            )
        self.port = engine.start()
        self._engine = engine
        log.info(
            "listener %s (%s engine) on %s:%d: %d storage SOP classes (table v%d), %d transfer syntaxes, "
            "calling AE titles allowed: %s, hosts allowed: %s, max %d associations, TLS %s, "
            "TCP_NODELAY %s, timeouts ACSE %g s / DIMSE %g s / network %g s, pid %d",
            self.settings.ae_title,
            self.engine,
            self.settings.bind_address,
            self.port,
            len(contexts.sop_class_uids),
            contexts.table_version,
            len(contexts.transfer_syntax_uids),
            ",".join(self.settings.allowed_calling_ae_titles),
            ",".join(self.settings.allowed_hosts) or "any",
            self.settings.max_associations,
            "on" if self.ssl_context else "off",
            "on" if self.settings.tcp_nodelay else "off",
            self.settings.acse_timeout_s,
            self.settings.dimse_timeout_s,
            self.settings.network_timeout_s,
            os.getpid(),
        )
        if self.writer.journal is not None:
            log.info(
                "listener durability: each instance appended to the journal and fdatasynced (one "
                "fdatasync per group) before the success status; written to the spool and indexed "
                "behind it, before the A-RELEASE is answered; replayed from the journal after a crash"
            )
        else:
            log.info(
                "listener durability: each instance written to a temporary file and renamed into the "
                "spool, its receipt committed to the spool index (group commit), before the success "
                "status (no fsync: listener.fsync is false)"
            )
        if self.status_file is not None:
            self._write_status()
            self._heartbeat = threading.Thread(
                target=self._heartbeat_loop, name="listener-heartbeat", daemon=True
            )
            self._heartbeat.start()
        assert self.port is not None
        return self.port

    def serve_until(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set, then shut down."""
        if self._engine is None:
            self.start()
        stop.wait()
        self.stop()

    def stop(self) -> None:
        """Stop accepting, close the socket and log the totals."""
        self._stop.set()
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None
        self.writer.close()
        self._copy_journal_stats()
        if self.status_file is not None:
            with contextlib.suppress(OSError):
                self.status_file.unlink()
        log.info("listener stopped: %s", json.dumps(self.stats.as_dict()))

    def _copy_journal_stats(self) -> None:
        if self.writer.journal is None:
            return
        journal = self.writer.journal.stats
        with self._lock:
            self.stats.journal_records = journal.records
            self.stats.journal_fsyncs = journal.fsyncs
            self.stats.journal_largest_group = journal.largest_group
            self.stats.journal_fsync_ms = round(journal.fsync_seconds * 1000)
            self.stats.journal_checkpoints = journal.checkpoints
        backlog, error, splits = self.writer.split_state()
        with self._lock:
            self.stats.split_instances = sum(split.instances for split in splits)
            self.stats.split_batches = sum(split.batches for split in splits)
            self.stats.split_largest_backlog = max((split.largest_backlog for split in splits), default=0)
            self.stats.split_failures = sum(split.failures for split in splits)
            self.stats.split_backlog, self.stats.spool_write_error = backlog, error

    # -- status ---------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        self._copy_journal_stats()
        with self._lock:
            counters = self.stats.as_dict()
        resent = self.spool.resend_summary()
        return {
            "status": "alive",
            "ae_title": self.settings.ae_title,
            "bind_address": self.settings.bind_address,
            "port": self.port,
            "pid": os.getpid(),
            "heartbeat_at": time.time(),
            **counters,
            # Re-sends the spool has recorded (all sources): an operator's cue to ask the PACS why.
            "spool_instances_resent": resent.instances,
            "spool_last_resent_at": resent.last_resent_at,
        }

    def _write_status(self) -> None:
        assert self.status_file is not None
        try:
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_file.with_name(self.status_file.name + ".tmp")
            tmp.write_text(json.dumps(self.status()))
            os.replace(tmp, self.status_file)
        except OSError as exc:
            log.warning("listener status file %s not written: %s", self.status_file, exc.strerror)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._write_status()

    # -- association events (log lines: AE titles, addresses, counts only) -------------------------
    # The receiver protocol of the native acceptor; the pynetdicom engine maps its events onto it.
    def host_refused(self, host: str) -> None:
        with self._lock:
            self.stats.associations_refused += 1
        log.warning("connection from %s refused: host not in listener.allowed_hosts", host)

    def release_requested(self) -> None:
        self.writer.release()

    def association_accepted(self, peer: str) -> None:
        with self._lock:
            self.stats.associations_accepted += 1
        log.info("association accepted from %s", peer)

    def association_rejected(self, peer: str, reason: str) -> None:
        with self._lock:
            self.stats.associations_refused += 1
        log.warning("association from %s rejected: %s", peer, reason)

    def association_finished(self, peer: str, how: str, instances: int) -> None:
        if how.startswith("aborted"):
            with self._lock:
                self.stats.associations_aborted += 1
        log.info("association from %s %s after %d instance(s)", peer, how, instances)
        self.spool.close()  # this thread's index connection

    def connection_closed(self) -> None:
        # Each association thread opened its own index connection; close it with the thread.
        self.spool.close()

    # -- the receive path -----------------------------------------------------------------------------
    def receive(self, encoded: bytes, sop_instance_uid: str, sop_class_uid: str, calling_ae: str) -> int:
        """File one received Part 10 byte string and return the C-STORE status for the sender."""
        try:
            header = read_instance_header(encoded, sop_instance_uid=sop_instance_uid)
        except UnreadableInstanceError as exc:
            with self._lock:
                self.stats.instances_unreadable += 1
            log.warning("%s; kept in quarantine, sender told 0xC210", exc)
            self._quarantine(encoded, sop_instance_uid, str(exc), UNREADABLE_PARTITION)
            return StoreStatus.CANNOT_UNDERSTAND
        if header.partition_key is None:
            with self._lock:
                self.stats.instances_quarantined_undated += 1
            reason = "no study date (nor series, acquisition or content date)"
            log.warning("SOP instance %s: %s; kept in quarantine, acknowledged", sop_instance_uid, reason)
            if not self._quarantine(encoded, sop_instance_uid, reason, UNDATED_PARTITION):
                return StoreStatus.OUT_OF_RESOURCES
            return StoreStatus.SUCCESS
        if self.partition_source is not None:
            header = replace(header, partition_key=qualify(header.partition_key, self.partition_source))
        try:
            self.writer.store(encoded, sop_instance_uid, sop_class_uid, calling_ae, header)
        except SpoolWriteError as exc:
            with self._lock:
                self.stats.write_failures += 1
            log.error(
                "SOP instance %s not stored (%s); sender told 0xA700 so it resends", sop_instance_uid, exc
            )
            return StoreStatus.OUT_OF_RESOURCES
        with self._lock:
            self.stats.instances_stored += 1
        return StoreStatus.SUCCESS

    def _quarantine(self, encoded: bytes, sop_instance_uid: str, reason: str, partition: str) -> bool:
        name = f"{sop_instance_uid}.dcm" if sop_instance_uid.replace(".", "").isdigit() else "unnamed.dcm"
        try:
            self.quarantine.put(
                stage=QUARANTINE_STAGE, partition_key=partition, name=name, reason=reason, data=encoded
            )
        except (OSError, SpoolWriteError) as exc:
            log.error("SOP instance %s could not be quarantined: %s", sop_instance_uid, exc)
            return False
        return True
