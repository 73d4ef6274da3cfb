"""The listener's receive journal: one append-only file per process, made durable by one fsync per group.

Why a journal
-------------
Making each received file durable on its own costs an fsync of the file and of its folder, each a
commit of the filesystem's own journal: with four senders that halved the listener's throughput.
Instead every received instance is appended to this journal (metadata and the encoded bytes, one
record) and made durable by one fdatasync per group: the first receiving thread that needs its
record durable while no fdatasync runs becomes the group's leader and fdatasyncs the journal in its
own thread; each fdatasync covers every record appended before it started, by all associations of
the process, and the threads whose records were appended while it ran wait for it, then one of them
leads the next group. A lone sender thus syncs its own records with no hand-over to another
thread. The instance is acknowledged once its record is durable; the spool file and index row are
written behind by the splitter (:mod:`resources.listener.journal_split`), and an association's
A-RELEASE waits for them, so a sender whose association is over finds its instances in the index.
The durability of files and rows comes from the journal until the next checkpoint.

Invariants
----------
1. An instance is acknowledged only after its record is in the journal and fdatasynced (so after a
   power cut the journal holds every acknowledged instance whose file or row the spool may lack).
   A record whose sender is told it failed is followed by a void record, so a replay does not
   store it.
2. A segment is deleted only after a checkpoint made the spool files and index rows of all its
   records durable (``syncfs``, or fsync of each file, folder and the index), and only once every
   record in it is settled: answered as failed, or written to the spool and indexed by the splitter.
3. A record (:mod:`resources.listener.journal_format`) carries its length and CRC-32; a failed or
   short append is truncated away at once, so a record can be torn only by a crash mid-append, and
   then it is the last one and was never acknowledged: recovery drops it
   (:mod:`resources.listener.journal_recovery`).
4. Each live process holds an exclusive ``flock`` on its segments: recovery replays only segments
   no live process holds, so several workers sharing a spool recover a dead worker's journal once.

Segments are rotated by the checkpoint (every ``checkpoint_interval_s``, or sooner once a segment
passes ``segment_bytes``), which runs in a background thread and never blocks a receive.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from resources.listener.journal_format import JOURNAL_FOLDER, SUFFIX, VOID, encode_record, write_at
from resources.listener.journal_segment import JournalStats, JournalTicket, Segment, quiet
from resources.spool.durability import fsync_directory
from resources.spool.errors import SpoolWriteError
from resources.spool.records import SpoolRecord

log = logging.getLogger(__name__)

# Injectable for tests that place the power-cut boundary at the last fdatasync.
sync_data: Callable[[int], None] = os.fdatasync
# A checkpoint costs one syncfs. Every 30 s, the kernel's own writeback age (vm.dirty_expire_centisecs
# is 3000 by default), finds most files written back already, so the syncfs is cheap and does not
# compete with the journal's fdatasyncs; a segment past SEGMENT_BYTES brings the checkpoint forward,
# which bounds the journal on disk and what a replay reads.
CHECKPOINT_INTERVAL_S = 30.0
SEGMENT_BYTES = 256 << 20
MIN_CHECKPOINT_SPACING_S = 1.0
# How long a background checkpoint waits for the records of a rotated segment to be split.
BACKGROUND_WAIT_S = 5.0


def journal_folder(spool_root: Path) -> Path:
    return spool_root / JOURNAL_FOLDER


class Journal:
    """This process's receive journal under ``<spool>/.journal`` (see the module docstring).

    Parameters
    ----------
    folder
        The journal folder (created when missing).
    make_durable
        Makes the spool files given, and the index rows committed so far, durable (a checkpoint).
    segment_bytes
        Rotate once the current segment has grown past this (default :data:`SEGMENT_BYTES`).
    checkpoint_interval_s
        Seconds between checkpoints while records arrive (default :data:`CHECKPOINT_INTERVAL_S`).

    Raises
    ------
    SpoolWriteError
        If the folder or the first segment cannot be created.
    """

    def __init__(
        self,
        folder: Path,
        make_durable: Callable[[Sequence[Path]], None],
        *,
        segment_bytes: int | None = None,
        checkpoint_interval_s: float | None = None,
    ) -> None:
        self.folder = folder
        self._make_durable = make_durable
        self.segment_bytes = SEGMENT_BYTES if segment_bytes is None else segment_bytes
        self.checkpoint_interval_s = (
            CHECKPOINT_INTERVAL_S if checkpoint_interval_s is None else checkpoint_interval_s
        )
        self.stats = JournalStats()
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._synced = threading.Condition(self._lock)  # a group's fdatasync ended
        self._syncing = False  # a leader's fdatasync is under way
        self._wake = threading.Event()
        self._closed = False
        self._stopping = False  # the checkpoint thread ends
        self._stopped = threading.Event()
        self._retired: list[Segment] = []  # rotated, waiting for their checkpoint
        self._serial = itertools.count(1)
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            fsync_directory(self.folder.parent)
        except OSError as exc:
            raise SpoolWriteError(f"{self.folder}: journal folder not created: {exc.strerror}") from exc
        self._segment = self._new_segment()
        self._thread = threading.Thread(target=self._checkpoint_loop, name="listener-journal", daemon=True)
        self._thread.start()

    # -- the receive path -------------------------------------------------------------------------------
    def append(self, record: SpoolRecord, data: bytes) -> JournalTicket:
        """Append one record; :meth:`wait_durable` for it, :meth:`settle` it when done.

        ``record`` is the spool record the file will get (its path, SHA-256, size and receipt time):
        the file may be written while the journal's fdatasync runs.

        Raises
        ------
        SpoolWriteError
            If the record cannot be written (disk full ...): nothing of it stays in the journal.
        """
        chunks = encode_record(record, data)
        length = len(chunks[0]) + len(chunks[1])
        with self._lock:
            if self._closed:
                raise SpoolWriteError(f"{record.path.name}: listener is stopping, not journaled")
            if self._segment.error is not None:  # after a failed fdatasync, start afresh
                fresh = self._new_segment()
                self._retired.append(self._segment)
                self._segment = fresh
            segment = self._segment
            try:
                write_at(segment.fd, chunks, segment.size)
            except OSError as exc:
                self._cut_back(segment)
                self._wake.set()  # a checkpoint deletes what is flushed: space the journal held returns
                raise SpoolWriteError(f"{record.path.name}: not journaled: {exc.strerror or exc}") from exc
            segment.size += length
            segment.records += 1
            segment.pending += 1
            segment.files.append(record.path)
            self.stats.records += 1
            ticket = JournalTicket(segment, segment.size, segment.records)
        if segment.size >= self.segment_bytes:
            self._wake.set()
        return ticket

    def wait_durable(self, ticket: JournalTicket) -> None:
        """Block until an fdatasync covers ``ticket``: the one under way if it started after the
        append, else one this thread leads (covering every record appended by then, from all
        associations of the process).

        Raises
        ------
        SpoolWriteError
            If the fdatasync failed (the record must not be acknowledged) or the journal closed.
        """
        segment = ticket.segment
        with self._lock:
            while segment.durable < ticket.end and segment.error is None:
                if self._syncing:
                    self._synced.wait()
                else:
                    self._lead_sync()
            if segment.durable >= ticket.end:
                return
            error = segment.error
        reason = error.strerror if error is not None else "no fdatasync"
        raise SpoolWriteError(f"{segment.path.name}: journal not fsynced: {reason}") from error

    def void(self, ticket: JournalTicket, record: SpoolRecord) -> None:
        """Mark ``record`` as not stored (its file failed after it was journaled), so no replay stores it.

        Best effort: the mark is made durable by the next group's fdatasync, if any comes before a
        power cut. If it is lost or cannot be written, a replay stores an instance its sender was told
        failed, which the sender's resend then replaces (a re-send is counted).
        """
        chunks = encode_record(replace(record, size_bytes=VOID), b"")
        with self._lock:
            segment = ticket.segment  # beside the record it voids (a replay reads one segment)
            try:
                write_at(segment.fd, chunks, segment.size)
            except OSError:
                self._cut_back(segment)
                return
            segment.size += len(chunks[0])

    def settle(self, ticket: JournalTicket) -> None:
        """``ticket``'s record needs the journal no more: answered as failed, or split into the spool."""
        with self._lock:
            ticket.segment.pending -= 1
            if ticket.segment.pending == 0:
                self._settled.notify_all()

    # -- checkpoints ------------------------------------------------------------------------------------
    def checkpoint(self, *, final: bool = False, timeout_s: float = 30.0) -> bool:
        """Rotate, make the spool behind the rotated segments durable, delete them; True when all went.

        With ``final`` no new segment is started and appends are refused from now on.
        """
        if not final and not self._segment.records and not self._retired:
            return True  # nothing journaled since the last checkpoint
        fresh = None if final else self._new_segment_or_none()
        with self._lock:
            if final:
                self._closed = True
            if self._segment.records or final:
                self._retired.append(self._segment)
                if fresh is not None:
                    self._segment = fresh
                    fresh = None
            retired = list(self._retired)
            deadline = time.monotonic() + timeout_s
            # Quiet: no receive under way, and no fdatasync of it running (none starts again).
            while (
                not all(map(quiet, retired))
                and time.monotonic() < deadline
                and (final or not self._stopping)  # close() must not wait behind a background one
            ):
                self._settled.wait(timeout=max(0.01, deadline - time.monotonic()))
            settled = [s for s in retired if quiet(s)]
        if fresh is not None:  # nothing to rotate: the spare is not needed
            self._remove(fresh)
        if not settled:
            return not retired
        began = time.perf_counter()
        try:
            self._make_durable([path for s in settled for path in s.files])
        except (OSError, SpoolWriteError) as exc:
            log.error(
                "journal checkpoint failed (%s); %d segment(s) kept in %s for recovery",
                exc,
                len(settled),
                self.folder,
            )
            return False
        for segment in settled:
            self._remove(segment)
        with self._lock:
            self._retired = [s for s in self._retired if s not in settled]
            self.stats.checkpoints += 1
            self.stats.checkpoint_seconds += time.perf_counter() - began
            return not self._retired

    def close(self, *, wait_s: float = 30.0) -> None:
        """Refuse appends, checkpoint what is journaled and delete the journal (kept if that fails).

        ``wait_s`` bounds the wait for receives still under way (records not yet split are kept).
        """
        with self._lock:
            self._closed = True  # no more appends
            self._stopping = True
            self._settled.notify_all()
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=60)
        if not self.checkpoint(final=True, timeout_s=wait_s):
            log.warning("journal in %s kept: it is replayed at the next start", self.folder)
            with self._lock:
                kept, self._retired = self._retired, []
            for segment in kept:  # its lock goes with its fd: the next start may replay it
                with contextlib.suppress(OSError):
                    os.close(segment.fd)

    # -- internals --------------------------------------------------------------------------------------
    def _checkpoint_loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.checkpoint_interval_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                # Segments whose records are still being split wait for the next checkpoint.
                self.checkpoint(timeout_s=BACKGROUND_WAIT_S)
            except Exception:  # the loop must survive; the next checkpoint retries
                log.exception("journal checkpoint in %s failed", self.folder)
            # A checkpoint brought forward (a full segment, a failed append) at most once a second.
            if self._stopped.wait(MIN_CHECKPOINT_SPACING_S):
                return

    def _lead_sync(self) -> None:
        # Called with the lock held, by a thread whose record is not durable yet while no fdatasync
        # runs. Whatever was appended when each fdatasync starts is covered by it, so while it runs
        # (lock released) the records arriving meanwhile gather for the next group.
        self._syncing = True
        try:
            for segment in [*self._retired, self._segment]:
                # Checked for each segment under the lock: it was released for the previous one.
                live = segment is self._segment or segment in self._retired  # not deleted meanwhile
                if not live or segment.size <= segment.durable or segment.error is not None:
                    continue
                target, records = segment.size, segment.records
                segment.syncing = True  # a checkpoint must not close its fd meanwhile
                self._lock.release()
                began = time.perf_counter()
                try:
                    sync_data(segment.fd)
                    error = None
                except OSError as exc:
                    error = exc
                finally:
                    elapsed = time.perf_counter() - began
                    self._lock.acquire()
                    segment.syncing = False
                self.stats.fsync_seconds += elapsed
                if error is not None:
                    log.error("journal segment %s: fdatasync failed: %s", segment.path.name, error)
                    segment.error = error
                else:
                    self.stats.fsyncs += 1
                    self.stats.largest_group = max(
                        self.stats.largest_group, records - segment.durable_records
                    )
                    segment.durable, segment.durable_records = target, records
        finally:
            self._syncing = False
            self._synced.notify_all()
            self._settled.notify_all()

    def _new_segment(self) -> Segment:
        path = self.folder / f"{os.getpid()}-{time.time_ns()}-{next(self._serial):06d}{SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SpoolWriteError(f"{path.name}: journal segment not created: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live (invariant 4)
            fsync_directory(self.folder)  # the segment's name must survive a power cut too
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise SpoolWriteError(f"{path.name}: journal segment not created: {exc.strerror}") from exc
        return Segment(path=path, fd=fd)

    def _new_segment_or_none(self) -> Segment | None:
        try:
            return self._new_segment()
        except SpoolWriteError as exc:
            log.error("journal not rotated: %s", exc)
            return None

    def _remove(self, segment: Segment) -> None:
        with contextlib.suppress(OSError):
            segment.path.unlink()
        with contextlib.suppress(OSError):
            os.close(segment.fd)

    @staticmethod
    def _cut_back(segment: Segment) -> None:
        # A short write would leave a torn record in the middle of the journal, hiding every record
        # appended after it from recovery: cut it away now (invariant 3).
        try:
            os.ftruncate(segment.fd, segment.size)
        except OSError as exc:
            log.error("journal segment %s not truncated after a failed append: %s", segment.path, exc)
