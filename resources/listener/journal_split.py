"""Behind the acknowledgement: splitting journaled instances into spool files and index rows.

With ``listener.fsync`` on, a received instance is acknowledged as soon as its journal record is
fdatasynced (:mod:`resources.listener.journal`): the journal alone makes it survive a power cut.
A splitter thread then lets instances gather for a few milliseconds (:data:`LINGER_S`), writes
each spool file (temporary name, renamed into place), commits the index rows of the whole batch in
one transaction, and only then settles their journal records, so a checkpoint never deletes a
segment whose files and rows are not written yet.

Why behind: writing the file and committing its row in the receiving thread cost more than the
fdatasync itself (creating a file is the costliest call of the receive path); behind the answer
they overlap the next instances' network reads, and one transaction serves a whole backlog.

What the senders and readers still see:

- An association's A-RELEASE is answered only once everything it sent is split
  (:meth:`JournalSplitter.wait_split`): when a sender's association is over, its instances are in
  the spool and its index, as with writes in the receiving thread.
- The backlog is bounded (``max_backlog_bytes``): a receive waits for room before it is answered,
  so a slow disk slows the senders instead of filling memory.
- A write that fails (disk full, a folder not writable ...) leaves the instance queued and its
  record in the journal; the splitter retries with a growing pause. While it fails, new instances
  are refused (the sender is answered 0xA700 and resends later) and an A-RELEASE does not wait. If
  the process dies first, the next start replays the journal
  (:mod:`resources.listener.journal_recovery`): nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from resources.listener.journal import Journal
from resources.listener.journal_segment import JournalTicket
from resources.spool.errors import SpoolWriteError
from resources.spool.records import SpoolRecord
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

# 64 MiB: a few seconds of a fast sender, small beside the listener's memory; one instance larger
# than this is still taken when the queue is empty.
MAX_BACKLOG_BYTES = 64 << 20
# Rows per index transaction: large enough to share the commit, small enough that an A-RELEASE
# waiting for a few instances is not held behind a long batch.
BATCH_LIMIT = 256
# How long the splitter lets instances gather before it writes them, unless an A-RELEASE waits or a
# batch is full: one index transaction (about 100 us of CPU alone) then serves many instances
# instead of one, and the splitter wakes once per batch instead of once per instance. Files and rows
# lag the acknowledgement by this much at most; the journal holds the instances meanwhile.
LINGER_S = 0.010
# The pause after a failed write doubles up to this (a full disk is retried every other second).
MAX_RETRY_PAUSE_S = 2.0


@dataclass
class _Queued:
    record: SpoolRecord
    data: bytes
    ticket: JournalTicket
    serial: int


@dataclass
class SplitStats:
    """Counters since start: instances split, index transactions, the largest backlog, failed tries."""

    instances: int = 0
    batches: int = 0
    largest_backlog: int = 0
    failures: int = 0


class JournalSplitter:
    """Writes the files and index rows of journaled, acknowledged instances (module docstring).

    Parameters
    ----------
    spool
        Where the files and rows go.
    journal
        The journal whose records are settled once split.
    max_backlog_bytes
        Encoded bytes queued at most before :meth:`put` waits (default :data:`MAX_BACKLOG_BYTES`).
    """

    def __init__(self, spool: SpoolStore, journal: Journal, *, max_backlog_bytes: int | None = None) -> None:
        self.spool = spool
        self.journal = journal
        self.max_backlog_bytes = MAX_BACKLOG_BYTES if max_backlog_bytes is None else max_backlog_bytes
        self.stats = SplitStats()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # split, or failing: for put and wait_split
        self._work = threading.Condition(self._lock)  # for the splitting thread: work, a flush, a stop
        self._flushes_wanted = 0  # A-RELEASEs (and close) waiting: split without lingering
        self._queue: deque[_Queued] = deque()
        self._bytes = 0
        self._queued_serial = 0  # serial of the last instance queued
        self._split_serial = 0  # every instance up to this serial is split
        self._closed = False  # no more puts
        self._stop = threading.Event()  # the thread ends (after the queue drained, or gave up)
        self._last_of_thread = threading.local()  # per association thread: its last serial
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="listener-journal-split", daemon=True)
        self._thread.start()

    # -- the receive path -------------------------------------------------------------------------------
    def put(self, record: SpoolRecord, data: bytes, ticket: JournalTicket) -> None:
        """Queue one durably journaled instance; waits while the backlog is full.

        Raises
        ------
        SpoolWriteError
            If the spool cannot be written at the moment, or the splitter is closing (the caller
            answers 0xA700 and voids the record).
        """
        with self._lock:
            while (
                self._queue
                and self._bytes >= self.max_backlog_bytes
                and not self._closed
                and self.last_error is None
            ):
                self._changed.wait(timeout=1.0)
            if self.last_error is not None:
                raise SpoolWriteError(f"{record.path.name}: spool not writable: {self.last_error}")
            if self._closed:
                raise SpoolWriteError(f"{record.path.name}: listener is stopping, not stored")
            self._queued_serial += 1
            self._queue.append(_Queued(record, data, ticket, self._queued_serial))
            self._bytes += len(data)
            self.stats.largest_backlog = max(self.stats.largest_backlog, len(self._queue))
            if len(self._queue) == 1 or len(self._queue) >= BATCH_LIMIT:
                self._work.notify()  # a first instance starts the linger; a full batch ends it
            self._last_of_thread.serial = self._queued_serial

    def backlog(self) -> int:
        """Instances acknowledged and not yet split."""
        with self._lock:
            return len(self._queue)

    def wait_split(self, timeout_s: float) -> bool:
        """Block until everything this thread queued is split (at an A-RELEASE).

        False on timeout, or at once while writes fail (the instances wait in the journal).
        """
        serial = getattr(self._last_of_thread, "serial", 0)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if self._split_serial >= serial:
                return True
            self._flushes_wanted += 1
            self._work.notify()
            try:
                while self._split_serial < serial:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.last_error is not None:
                        return False
                    self._changed.wait(timeout=remaining)
            finally:
                self._flushes_wanted -= 1
        return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Refuse new instances, split what is queued (up to ``timeout_s``); True if nothing is left.

        What is left (the disk still failing) stays in the journal, unsettled, for the next start.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._closed = True
            if self.last_error is not None:  # failing: one more retry at most
                deadline = min(deadline, time.monotonic() + MAX_RETRY_PAUSE_S + 0.5)
            self._changed.notify_all()
            self._work.notify()
            while self._queue and time.monotonic() < deadline:
                self._changed.wait(timeout=max(0.01, deadline - time.monotonic()))
            drained = not self._queue
            self._stop.set()
            self._changed.notify_all()
            self._work.notify()
        self._thread.join(timeout=10)
        return drained

    # -- the splitting thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        pause = 0.0
        try:
            while True:
                with self._lock:
                    while not self._queue and not self._stop.is_set():
                        self._work.wait()
                    if not self._queue:
                        return
                    self._linger()
                    batch = [self._queue[i] for i in range(min(len(self._queue), BATCH_LIMIT))]
                done, error = self._split(batch)
                with self._lock:
                    for _ in range(done):
                        item = self._queue.popleft()
                        self._bytes -= len(item.data)
                        self._split_serial = item.serial
                    self._changed.notify_all()
                for item in batch[:done]:
                    self.journal.settle(item.ticket)  # only now may a checkpoint delete its segment
                if error is None:
                    if self.last_error is not None:
                        log.info("the spool is writable again: the queued instances are written")
                        with self._lock:
                            self.last_error = None
                    pause = 0.0
                    continue
                self._failed(error)
                pause = min(MAX_RETRY_PAUSE_S, max(0.1, pause * 2))
                if self._stop.wait(pause):
                    return  # closing while the disk fails: the journal keeps the rest
        finally:
            self.spool.close()  # this thread's index connection

    def _linger(self) -> None:
        """Let more instances join the batch (lock held): up to :data:`LINGER_S`, unless a batch is
        full, someone waits for the split (an A-RELEASE, close) or the last try failed."""
        deadline = time.monotonic() + LINGER_S
        while (
            len(self._queue) < BATCH_LIMIT
            and not self._flushes_wanted
            and not self._closed
            and self.last_error is None
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._work.wait(timeout=remaining)

    def _split(self, batch: list[_Queued]) -> tuple[int, SpoolWriteError | None]:
        """Write the files of ``batch`` in order and index them in one transaction; how many went."""
        records: list[SpoolRecord] = []
        error: SpoolWriteError | None = None
        for item in batch:
            try:
                records.append(self._write(item))
            except SpoolWriteError as exc:
                error = exc
                break
            except Exception as exc:  # an instance must never be dropped from the queue unwritten
                error = SpoolWriteError(f"{item.record.path.name}: not written: {type(exc).__name__}")
                break
        if not records:
            return 0, error
        try:
            self.spool.index_records(records)
        except SpoolWriteError as exc:
            return 0, exc  # the files are rewritten, identically, at the retry
        with self._lock:
            self.stats.instances += len(records)
            self.stats.batches += 1
        return len(records), error

    def _write(self, item: _Queued) -> SpoolRecord:
        # defer_sync: the journal holds the instance durably until a checkpoint flushes the spool.
        return write_planned(self.spool, item.data, item.record)

    def _failed(self, error: SpoolWriteError) -> None:
        reason = str(error)
        if reason != self.last_error:  # one line per distinct failure, not one per retry
            log.error(
                "acknowledged instances not yet written to the spool (%s); kept in the journal, retrying; "
                "new instances are answered 0xA700 meanwhile",
                reason,
            )
        with self._lock:
            self.stats.failures += 1
            self.last_error = reason
            self._changed.notify_all()  # a waiting A-RELEASE or put gives up


def write_planned(spool: SpoolStore, data: bytes, planned: SpoolRecord) -> SpoolRecord:
    """Write the spool file ``planned`` names (atomically, not fsynced); the record as written.

    Raises
    ------
    SpoolWriteError
        If the file cannot be written; nothing half-written is left behind.
    """
    return spool.write_file(
        data,
        sop_instance_uid=planned.sop_instance_uid,
        sop_class_uid=planned.sop_class_uid,
        study_uid=planned.study_uid,
        series_uid=planned.series_uid,
        partition_key=planned.partition_key,
        source=planned.source,
        calling_ae_title=planned.calling_ae_title,
        defer_sync=True,
        received_at=planned.received_at,
        sha256=planned.sha256 or None,  # hashed for the journal already, when there is one
    )
