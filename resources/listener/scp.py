"""The C-STORE SCP behind ``dicom-lake listen``: receives what the PACS forwards and spools it.

Every instance is written to the spool atomically (temporary file, rename, fsync of the file and its
folder) and its receipt is recorded in the spool index (source ``listener``) before the sender gets its
success status; folder fsyncs and index rows are committed in batches across the associations of one
process (group commit, see ``group_commit.py``), never acknowledged ahead of them. If the
write fails (disk full, permissions) the sender gets ``0xA700`` (Refused: out of resources) so that the
PACS keeps the instance and sends it again. An instance without any date cannot be placed in a study
date partition: it is kept in quarantine (``listener/undated``) with the reason, counted, and
acknowledged, so the sender does not loop on it.

The receive path avoids decoding datasets: the handler takes the encoded bytes as sent
(``event.encoded_dataset()``), the SOP UIDs from the C-STORE request, and reads only the study/series
UIDs and dates from the header. Several listener processes may share one port (``SO_REUSEPORT``), which
is how one machine keeps up with several concurrent senders.

Log lines name AE titles, addresses, counts and SOP Instance UIDs, never patient data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import pydicom.uid
import yaml
from pynetdicom import AE, _config, evt
from pynetdicom import sop_class as sop_classes
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from resources.dicom_network.acceptor import NativeAcceptor, acceptor_settings
from resources.listener.errors import ListenerConfigError, UnreadableInstance
from resources.listener.group_commit import GroupCommitter
from resources.listener.instance_header import read_instance_header
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings
from resources.spool.errors import SpoolWriteError
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

SOURCE = "listener"
QUARANTINE_STAGE = "listener"
UNDATED_PARTITION = "undated"
UNREADABLE_PARTITION = "unreadable"

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: Refused, out of resources -> the sender retries
STATUS_CANNOT_UNDERSTAND = 0xC210  # PS3.4 B.2.3: Error, cannot understand
STATUS_PROCESSING_FAILURE = 0x0110

# "native": the lean acceptor in native_scp.py (the fast path); "pynetdicom": pynetdicom's AE.
ENGINES = ("native", "pynetdicom")

SOP_CLASS_TABLE = Path(__file__).resolve().parent / "storage_sop_classes.yaml"


@dataclass(frozen=True)
class StorageContexts:
    """The storage SOP classes (UIDs) and transfer syntaxes the listener accepts."""

    sop_class_uids: tuple[str, ...]
    transfer_syntax_uids: tuple[str, ...]
    table_version: int


@cache
def storage_contexts(table: Path = SOP_CLASS_TABLE) -> StorageContexts:
    """Read the accepted SOP classes and transfer syntaxes from their versioned data file.

    Raises
    ------
    ListenerConfigError
        If the table names a SOP class or transfer syntax that is not a known DICOM UID keyword.
    """
    data = yaml.safe_load(table.read_text(encoding="utf-8"))
    uids: list[str] = []
    for names in data["sop_classes"].values():
        for name in names:
            uid = getattr(sop_classes, name, None)
            if uid is None:
                raise ListenerConfigError(f"{table.name}: unknown storage SOP class {name!r}")
            uids.append(str(uid))
    syntaxes: list[str] = []
    for name in data["transfer_syntaxes"]:
        uid = getattr(pydicom.uid, name, None)
        if uid is None:
            raise ListenerConfigError(f"{table.name}: unknown transfer syntax {name!r}")
        syntaxes.append(str(uid))
    return StorageContexts(tuple(dict.fromkeys(uids)), tuple(syntaxes), int(data["version"]))


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def set_tcp_nodelay(sock: socket.socket) -> None:
    """Turn off Nagle's algorithm on an accepted socket (pynetdicom leaves it on).

    Without it a DIMSE exchange on loopback stalls ~40 ms per message (delayed ACK meets a message
    written in two pieces), which caps a sender at ~25 instances/s.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ListenerServer(ThreadedAssociationServer):
    """pynetdicom's threaded server plus: shared port, TCP_NODELAY, and a host allow-list."""

    reuse_port: bool = False
    tcp_nodelay: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    on_refused_host: Callable[[str], None] | None = None
    tls_handshake_timeout_s: float = 30.0

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        # No TLS handshake here: this runs in the one accepting thread, so a peer that connects and
        # never completes a handshake would stop every other sender. It happens in the association's
        # thread (process_request_thread), after the host allow-list.
        assert self.socket is not None
        client_socket, address = self.socket.accept()
        if self.tcp_nodelay:
            set_tcp_nodelay(client_socket)
        return client_socket, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if self.ssl_context:
            try:
                timeout = request.gettimeout()
                request.settimeout(self.tls_handshake_timeout_s)
                request = self.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(timeout)
            except OSError as exc:  # ssl.SSLError and timeouts included
                log.warning("TLS handshake with %s failed: %s", client_address[0], exc)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)

    def shutdown(self) -> None:
        # Built with AE.make_server, so the AE does not list this server: stop it ourselves.
        socketserver.BaseServer.shutdown(self)
        self.server_close()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        if self.allowed_hosts and host not in self.allowed_hosts:
            if self.on_refused_host is not None:
                self.on_refused_host(host)
            return False
        return True


def tls_context(settings: ListenerSettings, base_dir: Path | None = None) -> ssl.SSLContext | None:
    """A server TLS context from the listener settings, or None when TLS is not configured.

    Raises
    ------
    ListenerConfigError
        If only one of certificate/key is given, a CA is given without them, or the files cannot be
        loaded.
    """
    if settings.tls_certificate is None and settings.tls_private_key is None:
        if settings.tls_ca_certificate is not None:
            # Serving plain TCP here would admit every sender the CA was meant to keep out.
            raise ListenerConfigError(
                "listener.tls_ca_certificate (client certificates required) needs tls_certificate "
                "and tls_private_key"
            )
        return None
    if settings.tls_certificate is None or settings.tls_private_key is None:
        raise ListenerConfigError("listener TLS needs both tls_certificate and tls_private_key")

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() or base_dir is None else base_dir / path

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(resolve(settings.tls_certificate), resolve(settings.tls_private_key))
        if settings.tls_ca_certificate is not None:
            # A CA given = client certificates are required (mutual TLS).
            context.load_verify_locations(resolve(settings.tls_ca_certificate))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenerConfigError(f"listener TLS files could not be loaded: {exc}") from None
    return context


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
        TLS context (see :func:`tls_context`); None = plain TCP.
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
        if settings.engine not in ENGINES:
            raise ListenerConfigError(
                f"unknown listener engine {settings.engine!r} (one of {', '.join(ENGINES)})"
            )
        self.engine = settings.engine
        self.stats = ListenerStats()
        self._lock = threading.Lock()
        self._per_association: dict[int, int] = {}
        self.committer = GroupCommitter(spool)
        self._server: _ListenerServer | None = None
        self._native: NativeAcceptor | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def _application_entity(self) -> AE:
        # pynetdicom's per-message log handlers cost time on every DIMSE message and say nothing an
        # operator needs; our own per-association lines replace them.
        _config.LOG_HANDLER_LEVEL = "none"
        contexts = storage_contexts()
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_associations = self.settings.max_associations
        ae.require_calling_aet = list(self.settings.allowed_calling_ae_titles)
        ae.require_called_aet = True
        ae.acse_timeout = 30
        ae.dimse_timeout = 120
        ae.network_timeout = 120
        ae.maximum_pdu_size = 0
        ae.add_supported_context(pydicom.uid.UID("1.2.840.10008.1.1"))  # Verification (C-ECHO)
        for uid in contexts.sop_class_uids:
            ae.add_supported_context(uid, list(contexts.transfer_syntax_uids))
        return ae

    def start(self) -> int:
        """Start serving in background threads; returns the bound port.

        Raises
        ------
        OSError
            If the address cannot be bound.
        """
        if self.engine == "native":
            contexts = storage_contexts()
            self._native = NativeAcceptor(
                acceptor_settings(self.settings, contexts.sop_class_uids, contexts.transfer_syntax_uids),
                self,
                bind=(self.settings.bind_address, self.settings.port),
                reuse_port=self.reuse_port,
                ssl_context=self.ssl_context,
            )
            self.port = self._native.start()
        else:
            self._start_pynetdicom()
        contexts = storage_contexts()
        log.info(
            "listener %s (%s engine) on %s:%d: %d storage SOP classes (table v%d), %d transfer syntaxes, "
            "calling AE titles allowed: %s, hosts allowed: %s, max %d associations, TLS %s, "
            "TCP_NODELAY %s, pid %d",
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
            os.getpid(),
        )
        log.info(
            "listener durability: each instance written to a temporary file and renamed into the spool, "
            "%s its receipt committed to the spool index (group commit), before the success status",
            "file and folder fsynced," if self.spool.fsync else "(no fsync: listener.fsync is false)",
        )
        if self.status_file is not None:
            self._write_status()
            self._heartbeat = threading.Thread(
                target=self._heartbeat_loop, name="listener-heartbeat", daemon=True
            )
            self._heartbeat.start()
        assert self.port is not None
        return self.port

    def _start_pynetdicom(self) -> None:
        ae = self._application_entity()
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_connection_closed),
        ]
        server_class = type(
            "ListenerServer",
            (_ListenerServer,),
            {
                "reuse_port": self.reuse_port,
                "tcp_nodelay": self.settings.tcp_nodelay,
                "allowed_hosts": frozenset(self.settings.allowed_hosts),
                "on_refused_host": self._on_refused_host,
            },
        )
        server = ae.make_server(
            (self.settings.bind_address, self.settings.port),
            ssl_context=self.ssl_context,
            evt_handlers=handlers,
            server_class=server_class,
        )
        assert isinstance(server, _ListenerServer)
        self._server = server
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, name="listener-accept", daemon=True)
        thread.start()

    def serve_until(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set, then shut down."""
        if self._server is None:
            self.start()
        stop.wait()
        self.stop()

    def stop(self) -> None:
        """Stop accepting, close the socket and log the totals."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._native is not None:
            self._native.shutdown()
            self._native = None
        self.committer.close()
        if self.status_file is not None:
            with contextlib.suppress(OSError):
                self.status_file.unlink()
        log.info("listener stopped: %s", json.dumps(self.stats.as_dict()))

    # -- status ---------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            counters = self.stats.as_dict()
        return {
            "status": "alive",
            "ae_title": self.settings.ae_title,
            "bind_address": self.settings.bind_address,
            "port": self.port,
            "pid": os.getpid(),
            "heartbeat_at": time.time(),
            **counters,
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
    @staticmethod
    def _peer(event: Event) -> str:
        requestor = event.assoc.requestor
        return f"{requestor.ae_title}@{requestor.address}:{requestor.port}"

    # The receiver protocol of the native acceptor; the pynetdicom events below map onto it.
    def host_refused(self, host: str) -> None:
        with self._lock:
            self.stats.associations_refused += 1
        log.warning("connection from %s refused: host not in listener.allowed_hosts", host)

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

    def _on_refused_host(self, host: str) -> None:
        self.host_refused(host)

    def _on_accepted(self, event: Event) -> None:
        with self._lock:
            self._per_association[id(event.assoc)] = 0
        self.association_accepted(self._peer(event))

    def _on_rejected(self, event: Event) -> None:
        self.association_rejected(
            self._peer(event), "calling AE title not allowed, wrong called AE title or too many associations"
        )

    def _finish(self, event: Event, how: str) -> None:
        with self._lock:
            count = self._per_association.pop(id(event.assoc), 0)
        self.association_finished(self._peer(event), how, count)

    def _on_released(self, event: Event) -> None:
        self._finish(event, "released")

    def _on_aborted(self, event: Event) -> None:
        self._finish(event, "aborted")

    def _on_connection_closed(self, event: Event) -> None:
        # Each association thread opened its own index connection; close it with the thread.
        self.spool.close()

    # -- the receive path -----------------------------------------------------------------------------
    def _on_c_store(self, event: Event) -> int:
        request = cast(C_STORE, event.request)
        sop_instance_uid = str(request.AffectedSOPInstanceUID)
        sop_class_uid = str(request.AffectedSOPClassUID)
        calling_ae = event.assoc.requestor.ae_title
        encoded = event.encoded_dataset(include_meta=True)
        status = self.receive(encoded, sop_instance_uid, sop_class_uid, calling_ae)
        if status == STATUS_SUCCESS:
            with self._lock:
                key = id(event.assoc)
                self._per_association[key] = self._per_association.get(key, 0) + 1
        return status

    def receive(self, encoded: bytes, sop_instance_uid: str, sop_class_uid: str, calling_ae: str) -> int:
        """File one received Part 10 byte string and return the C-STORE status for the sender."""
        try:
            header = read_instance_header(encoded, sop_instance_uid=sop_instance_uid)
        except UnreadableInstance as exc:
            with self._lock:
                self.stats.instances_unreadable += 1
            log.warning("%s; kept in quarantine, sender told 0xC210", exc)
            self._quarantine(encoded, sop_instance_uid, str(exc), UNREADABLE_PARTITION)
            return STATUS_CANNOT_UNDERSTAND
        if header.partition_key is None:
            with self._lock:
                self.stats.instances_quarantined_undated += 1
            reason = "no study date (nor series, acquisition or content date)"
            log.warning("SOP instance %s: %s; kept in quarantine, acknowledged", sop_instance_uid, reason)
            if not self._quarantine(encoded, sop_instance_uid, reason, UNDATED_PARTITION):
                return STATUS_OUT_OF_RESOURCES
            return STATUS_SUCCESS
        try:
            # The file is written and renamed without fsync, fsynced here (in parallel with the other
            # associations), then its folder fsync and index row are committed with whatever else is
            # waiting (group commit): Success is answered only once all of that is done.
            record = self.spool.write_file(
                encoded,
                sop_instance_uid=sop_instance_uid,
                sop_class_uid=sop_class_uid,
                study_uid=header.study_uid,
                series_uid=header.series_uid,
                partition_key=header.partition_key,
                source=SOURCE,
                calling_ae_title=calling_ae,
                defer_sync=True,
            )
            self.committer.sync_file(record.path)
            self.committer.commit(record)
        except SpoolWriteError as exc:
            with self._lock:
                self.stats.write_failures += 1
            log.error(
                "SOP instance %s not stored (%s); sender told 0xA700 so it resends", sop_instance_uid, exc
            )
            return STATUS_OUT_OF_RESOURCES
        with self._lock:
            self.stats.instances_stored += 1
        return STATUS_SUCCESS

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
