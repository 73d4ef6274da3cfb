"""Group commit for the listener: one folder fsync and one index transaction for many instances.

Each association thread writes its file (temporary name, rename into place) and fsyncs the file
itself, then hands the record to the process's :class:`GroupCommitter` and waits. The committer
takes whatever is queued at that moment, fsyncs each distinct folder once (and the folders above a
folder it has not made durable yet), records all the rows in ONE spool-index transaction, and only
then releases every waiting association to send its C-STORE response. The guarantee is the one of
:meth:`SpoolStore.store` - Success only after the file is in place, durable and indexed - at the cost
of a few fsyncs and one SQLite commit per batch instead of per instance.

If a folder fsync or the index transaction fails, every instance of that batch gets the error (the
sender is answered ``0xA700`` and resends).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from resources.spool.errors import SpoolWriteError
from resources.spool.store import SpoolRecord, SpoolStore, fsync_directory

log = logging.getLogger(__name__)


def fsync_file(path: Path) -> None:
    """Flush one file's data to disk (it was written and renamed without fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Waiter:
    record: SpoolRecord
    done: threading.Event = field(default_factory=threading.Event)
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

    def __init__(self, spool: SpoolStore, *, sync_directory: Callable[[Path], None] | None = None) -> None:
        self.spool = spool
        self._sync_directory = sync_directory
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queue: list[_Waiter] = []
        self._closed = False
        # Folders whose own entry in their parent is known to be on disk, with their inode (a folder
        # removed and created again is a new entry that needs its parent fsynced again).
        self._durable_folders: dict[Path, int] = {}
        self._thread: threading.Thread | None = None
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
        """Block until ``record``'s folder is fsynced and its row committed to the spool index.

        The caller must already have fsynced the file itself (when the spool fsyncs).

        Raises
        ------
        SpoolWriteError
            If the folder fsync or the index transaction of its batch failed, or the committer is closed.
        """
        waiter = _Waiter(record)
        with self._lock:
            if self._closed:
                raise SpoolWriteError(f"{record.path.name}: listener is stopping, not indexed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="listener-commit", daemon=True)
                self._thread.start()
            self._queue.append(waiter)
            self._queued.notify()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error

    def close(self) -> None:
        """Finish what is queued, then stop the committer thread."""
        with self._lock:
            self._closed = True
            self._queued.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    break
                batch, self._queue = self._queue, []
            self._commit_batch(batch)
        self.spool.close()  # this thread's index connection

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
            waiter.done.set()
