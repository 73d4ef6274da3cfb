"""Group commit for the listener: one fsync and one index transaction for many instances.

Each association thread writes its file (temporary name, rename into place, no fsync), then hands the
record to the process's :class:`GroupCommitter`. There is no committer thread: the first association
thread to find no commit under way becomes the leader, takes whatever is queued at that moment (its
own record included), makes the batch durable, records all the rows in ONE spool-index transaction,
and only then releases every association of that batch to send its C-STORE response; the records
queued meanwhile form the next batch, led by one of their own threads. A lone sender thus commits in
its own thread with no hand-over, while concurrent senders share fsyncs and transactions.

The listener uses it with ``listener.fsync`` off (with it on, instances are answered from the journal
and indexed behind by :mod:`resources.listener.journal_split`). On a spool that fsyncs, each file
was fsynced by its own thread (:meth:`GroupCommitter.sync_file`), and the leader fsyncs each
distinct folder once (and the folders above a folder not made durable yet).

Success is answered only after the file is in place (durable, when the spool fsyncs) and indexed.
If the fsync or the index transaction fails, every instance of that batch gets the error (the
sender is answered ``0xA700`` and resends).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from resources.spool import SpoolRecord, SpoolStore
from resources.spool.durability import fsync_directory, fsync_file
from resources.spool.errors import SpoolWriteError

log = logging.getLogger(__name__)


@dataclass
class _Waiter:
    record: SpoolRecord
    finished: bool = False
    error: SpoolWriteError | None = None


class GroupCommitter:
    """Makes handed-over spool records durable and indexed in batches (one committer per process).

    Parameters
    ----------
    spool
        The spool whose index receives the rows; its ``fsync`` flag says whether folders are fsynced.
    sync_directory
        How a folder is fsynced (default :func:`fsync_directory`; injectable to observe the order).
    """

    def __init__(
        self,
        spool: SpoolStore,
        *,
        sync_directory: Callable[[Path], None] | None = None,
    ) -> None:
        self.spool = spool
        self._sync_directory = sync_directory
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a batch was committed, or leadership freed
        self._queue: list[_Waiter] = []
        self._leading = False  # an association thread is committing a batch
        self._closed = False
        # Folders whose own entry in their parent is known to be on disk, with their inode (a folder
        # removed and created again is a new entry that needs its parent fsynced again).
        self._durable_folders: dict[Path, int] = {}
        self.batches = 0

    def sync_file(self, path: Path) -> None:
        """Fsync one written file (in the receiving thread, so several files are flushed at once).

        Raises
        ------
        SpoolWriteError
            If the file cannot be fsynced.
        """
        if not self.spool.fsync:
            return
        try:
            fsync_file(path)
        except OSError as exc:
            raise SpoolWriteError(f"{path.name}: not fsynced: {exc.strerror}") from exc

    def commit(self, record: SpoolRecord) -> None:
        """Block until ``record``'s folder is fsynced (when the spool fsyncs) and its row committed.

        When the spool fsyncs, the caller must already have fsynced the file itself.

        Raises
        ------
        SpoolWriteError
            If the fsync or the index transaction of its batch failed, or the committer is closed.
        """
        waiter = _Waiter(record)
        with self._lock:
            if self._closed:
                raise SpoolWriteError(f"{record.path.name}: listener is stopping, not indexed")
            self._queue.append(waiter)
            while not waiter.finished:
                if self._leading:
                    self._changed.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue, []
                self._lock.release()
                try:
                    self._commit_batch(batch)
                finally:
                    self._lock.acquire()
                    self._leading = False
                    self._changed.notify_all()
        if waiter.error is not None:
            raise waiter.error

    def close(self) -> None:
        """Refuse new records, and wait until what is queued is committed."""
        deadline = time.monotonic() + 30
        with self._lock:
            self._closed = True
            while (self._leading or self._queue) and time.monotonic() < deadline:
                self._changed.wait(timeout=1)

    def _known_durable(self, folder: Path) -> bool:
        inode = self._durable_folders.get(folder)
        if inode is None:
            return False
        try:
            return os.stat(folder).st_ino == inode
        except OSError:
            return False

    def _folders_to_sync(self, records: list[SpoolRecord]) -> list[Path]:
        # A new file needs its folder fsynced; a folder created since the last sync also needs the
        # entry in its own parent, up to the spool root. Deepest first, so a parent follows its child.
        folders: dict[Path, None] = {}
        for record in records:
            folder = record.path.parent
            folders[folder] = None
            while not self._known_durable(folder) and folder != self.spool.root:
                folder = folder.parent
                folders[folder] = None
        return sorted(folders, key=lambda p: len(p.parts), reverse=True)

    def _commit_batch(self, batch: list[_Waiter]) -> None:
        records = [w.record for w in batch]
        error: SpoolWriteError | None = None
        try:
            if self.spool.fsync:
                folders = self._folders_to_sync(records)
                for folder in folders:
                    try:
                        (self._sync_directory or fsync_directory)(folder)
                    except OSError as exc:
                        raise SpoolWriteError(f"{folder.name}: folder not fsynced: {exc.strerror}") from exc
                for folder in folders:
                    self._durable_folders[folder] = os.stat(folder).st_ino
            self.spool.index_records(records)
            self.batches += 1
        except SpoolWriteError as exc:
            error = exc
        except Exception as exc:  # a waiting sender must always be answered
            log.exception("group commit of %d instance(s) failed", len(records))
            error = SpoolWriteError(f"{len(records)} instance(s) not indexed: {type(exc).__name__}")
        for waiter in batch:
            waiter.error = error
            waiter.finished = True  # read by its thread under the lock, after notify_all
