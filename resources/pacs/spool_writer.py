"""The retrieval's writer: received instances into one spool partition, durable before they are indexed.

Used by every receiver of a retrieval: the native storage SCP (:mod:`resources.pacs.storage_scp`),
pynetdicom's (C-GET, and the ``pynetdicom`` engine) and each receiving process
(:mod:`resources.pacs.receiving_processes`). It never decodes a dataset: the Part 10 preamble and
File Meta Information are encoded directly as bytes, the SOP Instance/Class UIDs come from the
C-STORE request. Study and Series Instance UIDs come from the retrieval context when the retriever
announced the instance (it knows what it asked for, from the image-level C-FIND); otherwise from a
scan of the header (:func:`resources.spool.instance_header.read_instance_header`, no decode).

Durability (what is guaranteed)
-------------------------------
An instance the retriever counts as present - a row in the spool index, which is what
:class:`~resources.pacs.retrieve.PartitionRetriever` reads to decide what is done - survives a crash
(power loss included): its file and then its folders are fsynced before its index row is written
(a batch of four or more with one ``syncfs(2)`` of the spool's filesystem where Linux offers it and
the batch's folders all live on that filesystem; file by file otherwise). Each file is written
completely under a temporary name and renamed into place (no reader ever sees a partial file), then
answered; batches of ``batch_size`` instances are made durable and indexed by one
background thread while receiving goes on, and :meth:`SpoolWriter.flush` - before the retriever
checks a move's outcome against the index, when the SCP stops, and before the retrieval's summary -
waits for all of them. The Success status sent to the PACS for a sub-operation therefore precedes
the fsyncs: a crash can lose instances the PACS was told were stored but that were not yet indexed
(at most a renamed file without an index row, which nothing reads and the next copy replaces). That
is safe for retrieval only - the PACS keeps its copy and the next run, not finding them in the
index, moves them again. A copy that replaces a file already in the spool is fsynced before its
rename, so an indexed file is never left half-replaced. The listener, whose senders may delete what
they sent, answers Success only once the instance is durable and indexed
(:mod:`resources.listener.group_commit`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.dicom_network.errors import AbortAssociation
from resources.dicom_network.file_meta import file_meta
from resources.dicom_network.status import StoreStatus
from resources.spool import SpoolRecord, SpoolStore, SpoolWriteError
from resources.spool.durability import (
    SYNCFS_MIN_BATCH,
    fsync_directory,
    fsync_file,
    sync_filesystem,
    syncfs_available,
)
from resources.spool.errors import UnreadableInstanceError
from resources.spool.instance_header import read_instance_header

log = logging.getLogger(__name__)

MAX_SYNC_BACKLOG = 4  # batches waiting for their fsyncs before receiving blocks


@dataclass(frozen=True)
class InstanceContext:
    study_uid: str
    series_uid: str


@dataclass
class ReceiveCounters:
    received: int = 0
    bytes: int = 0
    failed: int = 0
    parsed_headers: int = 0
    refused: int = 0


class SpoolWriter:
    """Writes received instances into one spool partition (thread-safe); see the module's durability.

    :meth:`receive` is the receiver of the native acceptor; :meth:`handle_store` is the pynetdicom
    ``EVT_C_STORE`` handler (C-GET, and the ``pynetdicom`` engine). A subclass may raise
    :class:`~resources.dicom_network.errors.AbortAssociation` from :meth:`receive` to abort the
    sending association.
    """

    def __init__(
        self, spool: SpoolStore, partition_key: str, *, source: str = "pacs", batch_size: int = 64
    ) -> None:
        self.spool = spool
        self.partition_key = partition_key
        self.source = source
        self.batch_size = max(1, batch_size)
        self.counters = ReceiveCounters()
        self._expected: dict[str, InstanceContext] = {}
        self._studies: set[str] | None = None  # None: accept any study (e.g. a listener)
        self._lock = threading.Lock()
        self._pending: list[SpoolRecord] = []  # written and renamed, not yet fsynced nor indexed
        self._indexed = 0  # instances indexed since the last flush()
        # One syncing thread: batches are made durable and indexed in the order they were received.
        self._sync_lock = threading.Lock()
        self._syncer: ThreadPoolExecutor | None = None
        self._syncing: list[Future[int]] = []
        # Batches are made durable with one syncfs(2) where Linux offers it, else file by file.
        self.use_syncfs = syncfs_available()

    def accept_studies(self, study_uids: set[str]) -> None:
        """Refuse instances of any other study (a stray sub-operation must not land in this partition)."""
        with self._lock:
            self._studies = set(study_uids)

    def expect(self, sop_instance_uid: str, study_uid: str, series_uid: str) -> None:
        """Announce an instance we asked for, so its UIDs need not be parsed from the bytes."""
        with self._lock:
            self._expected[sop_instance_uid] = InstanceContext(study_uid, series_uid)

    def _context_for(self, sop_instance_uid: str, encoded: Sequence[bytes]) -> InstanceContext | None:
        with self._lock:
            known = self._expected.get(sop_instance_uid)
        if known is not None:
            return known
        # Not announced (a whole study or series moved without listing it): read the two UIDs from the
        # header with the spool's scanner (no decode; pydicom only for unusual transfer syntaxes).
        data = encoded[0] if len(encoded) == 1 else b"".join(encoded)
        try:
            header = read_instance_header(data, sop_instance_uid=sop_instance_uid)
        except UnreadableInstanceError:
            return None
        with self._lock:
            self.counters.parsed_headers += 1
        if not header.study_uid or not header.series_uid:
            return None
        return InstanceContext(header.study_uid, header.series_uid)

    # -- receiving ----------------------------------------------------------------------------------
    def receive(
        self, encoded: bytes | Sequence[bytes], sop_instance_uid: str, sop_class_uid: str, calling_ae: str
    ) -> int:
        """Write one received Part 10 instance (bytes or chunks) to the spool; returns the DIMSE status.

        Raises
        ------
        AbortAssociation
            Never here; a subclass may raise it to abort the sending association.
        """
        chunks: list[bytes] = [encoded] if isinstance(encoded, bytes) else list(encoded)
        context = self._context_for(sop_instance_uid, chunks)
        if context is None:
            log.warning("instance %s: no Study/Series Instance UID in its header; refused", sop_instance_uid)
            with self._lock:
                self.counters.failed += 1
            return StoreStatus.CANNOT_UNDERSTAND
        if self._studies is not None and context.study_uid not in self._studies:
            log.warning("instance %s: of a study this retrieval did not ask for; refused", sop_instance_uid)
            with self._lock:
                self.counters.refused += 1
            return StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS
        # A copy replacing a file already there (a whole series moved again) is fsynced before its
        # rename, as the listener does: a crash must never leave an indexed file half-replaced.
        replacing = os.path.exists(
            self.spool.path_for(self.partition_key, context.study_uid, sop_instance_uid)
        )
        try:
            record = self.spool.write_file(
                chunks,
                sop_instance_uid=sop_instance_uid,
                sop_class_uid=sop_class_uid,
                study_uid=context.study_uid,
                series_uid=context.series_uid,
                partition_key=self.partition_key,
                source=self.source,
                calling_ae_title=calling_ae,
                defer_sync=not replacing,
            )
        except SpoolWriteError as exc:
            log.error("instance %s: %s", sop_instance_uid, exc)
            with self._lock:
                self.counters.failed += 1
            return StoreStatus.OUT_OF_RESOURCES
        with self._lock:
            self.counters.received += 1
            self.counters.bytes += record.size_bytes
            self._pending.append(record)
            full = len(self._pending) >= self.batch_size
        if full:
            self._sync_in_background()
        return StoreStatus.SUCCESS

    def _take_pending(self) -> list[SpoolRecord]:
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def _submit(self, batch: list[SpoolRecord]) -> list[Future[int]]:
        """Queue a batch on the syncing thread (caller holds ``_sync_lock``); returns the unfinished ones."""
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-sync")
        self._syncing.append(self._syncer.submit(self._make_durable, batch))
        self._syncing = [f for f in self._syncing if not f.done()]
        return list(self._syncing)

    def _sync_in_background(self) -> None:
        with self._sync_lock:
            batch = self._take_pending()
            if not batch:
                return
            backlog = self._submit(batch)
        # A disk slower than the network must slow the sender down, not grow the backlog.
        if len(backlog) > MAX_SYNC_BACKLOG:
            backlog[0].result()

    def _make_durable(self, batch: list[SpoolRecord]) -> int:
        """Fsync the files, then their folders, then index them; returns how many were indexed."""
        try:
            if self.spool.fsync:
                studies = {os.path.dirname(record.path) for record in batch}
                if self.use_syncfs and len(batch) >= SYNCFS_MIN_BATCH and self._one_filesystem(studies):
                    # One syncfs covers the batch's files, renames and new folders.
                    sync_filesystem(self.spool.root)
                else:
                    for record in batch:
                        fsync_file(record.path)
                    # The study folders, then the partition and spool folders in case one is new.
                    partitions = {os.path.dirname(study) for study in studies}
                    spools = {os.path.dirname(partition) for partition in partitions}
                    for folder in [*sorted(studies), *sorted(partitions), *sorted(spools)]:
                        fsync_directory(Path(folder))
            self.spool.index_records(batch)
        except (OSError, SpoolWriteError) as exc:
            log.error(
                "partition %s: %d received instances could not be made durable and are not counted "
                "(a rerun moves them again): %s",
                self.partition_key,
                len(batch),
                exc,
            )
            with self._lock:
                self.counters.received -= len(batch)
                self.counters.bytes -= sum(r.size_bytes for r in batch)
                self.counters.failed += len(batch)
            return 0
        with self._lock:
            self._indexed += len(batch)
        return len(batch)

    def _one_filesystem(self, folders: set[str]) -> bool:
        """Whether every folder is on the spool root's filesystem (a mount inside the spool is not)."""
        root_device = os.stat(self.spool.root).st_dev
        return all(os.stat(folder).st_dev == root_device for folder in folders)

    def flush(self) -> int:
        """Make every received instance durable and index it; returns how many were indexed since the last.

        Files first, folders next, index rows last, so an indexed instance always survives a crash. If
        a batch cannot be made durable or indexed, it is not indexed (an error is logged and its
        instances count as failed): the retriever sees them missing and moves them again.
        """
        with self._sync_lock:
            batch = self._take_pending()
            waiting = self._submit(batch) if batch else list(self._syncing)
        # Every unfinished batch, including those another thread's flush or a full batch submitted:
        # a concurrent move's flush must not return while instances it was told of are unindexed.
        for future in waiting:
            future.result()
        with self._lock:
            indexed, self._indexed = self._indexed, 0
        return indexed

    def close(self) -> None:
        """Flush, then stop the syncing thread (a later :meth:`receive` starts a new one)."""
        self.flush()
        with self._sync_lock:
            syncer, self._syncer = self._syncer, None
        if syncer is not None:
            syncer.shutdown(wait=True)

    def handle_store(self, event: Any) -> int:
        """``EVT_C_STORE`` handler (pynetdicom's ``Event``): as :meth:`receive`; returns the DIMSE status."""
        request: Any = event.request
        sop_uid = str(request.AffectedSOPInstanceUID)
        sop_class = str(request.AffectedSOPClassUID)
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        meta = file_meta(sop_class, sop_uid, str(event.context.transfer_syntax), calling_ae)
        try:
            return self.receive(
                (meta, event.encoded_dataset(include_meta=False)), sop_uid, sop_class, calling_ae
            )
        except AbortAssociation:
            event.assoc.abort()
            return StoreStatus.OUT_OF_RESOURCES

    # -- association notices of the native acceptor -------------------------------------------------
    def release_requested(self) -> None:
        """Nothing to wait for: the retrieval collects what arrived once the C-MOVE completes."""

    def association_accepted(self, peer: str) -> None:
        log.debug("storage SCP: association from %s accepted", peer)

    def association_rejected(self, peer: str, reason: str) -> None:
        log.warning("storage SCP: association from %s rejected: %s", peer, reason)

    def association_finished(self, peer: str, how: str, instances: int) -> None:
        log.debug("storage SCP: association from %s %s after %d instances", peer, how, instances)

    def host_refused(self, host: str) -> None:
        log.warning("storage SCP: connection from %s refused", host)
