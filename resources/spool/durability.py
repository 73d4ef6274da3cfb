"""How the spool makes what it writes durable: atomic writes, fsync of files and folders, syncfs.

Every zone that writes files (spool, research store, quarantine, vault) writes them with
:func:`write_atomically`: a temporary file in the same folder, fsync, rename, fsync of the folder, so a
reader never sees a partial file and a crash leaves at most a ``.part`` file that is ignored and swept.
Batches are made durable with one ``syncfs(2)`` where Linux offers it (:func:`sync_filesystem`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from resources.spool.errors import SpoolWriteError


def fsync_file(path: Path) -> None:
    """Flush one file's data to disk (it was written and renamed without fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


_SYNCFS = _load_syncfs()
# syncfs flushes everything dirty on the filesystem (the index's WAL, other writers' files): worth it
# for a batch, not for a lone instance, which two fsyncs (file, folder) make durable more cheaply.
SYNCFS_MIN_BATCH = 4


def syncfs_available() -> bool:
    """Whether :func:`sync_filesystem` can be used here (Linux ``syncfs(2)``)."""
    return _SYNCFS is not None


def sync_filesystem(folder: Path) -> None:
    """Flush every written file and folder of the filesystem holding ``folder`` (Linux ``syncfs(2)``).

    One call makes a whole batch durable - files, renames and new folders - where fsyncing each file
    and folder forces one journal commit each (measured here: 64 new files in 3-12 ms instead of
    31-43 ms). Since Linux 5.8 it reports writeback errors of that filesystem, as fsync does.

    Raises
    ------
    OSError
        If the flush fails, or ``syncfs`` is not available (see :func:`syncfs_available`).
    """
    if _SYNCFS is None:
        raise OSError(errno.ENOSYS, "syncfs is not available on this platform")
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)


def flush_to_disk(root: Path, files: Sequence[Path], extra: Sequence[Path] = ()) -> None:
    """Make ``files`` (written without fsync), their folders up to ``root`` and ``extra`` durable.

    One ``syncfs`` of ``root``'s filesystem where Linux offers it and there is a batch (see
    :data:`SYNCFS_MIN_BATCH`); otherwise each file, each distinct folder (deepest first, so a new
    folder's entry in its parent follows it) and each existing ``extra`` file is fsynced.

    Raises
    ------
    OSError
        If a flush fails (a file that vanished meanwhile, e.g. purged, is skipped).
    """
    if _SYNCFS is not None and len(files) + len(extra) >= SYNCFS_MIN_BATCH:
        sync_filesystem(root)
        return
    folders: dict[Path, None] = {}
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            fsync_file(path)
        folder = path.parent
        while folder != root and root in folder.parents:
            folders[folder] = None
            folder = folder.parent
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(FileNotFoundError):
            fsync_directory(folder)
    fsync_directory(root)
    for path in extra:
        with contextlib.suppress(FileNotFoundError):
            fsync_file(path)


def write_atomically(
    target: Path, data: bytes | Sequence[bytes], *, fsync: bool = True, mode: int = 0o600
) -> str:
    """Write ``data`` to ``target`` atomically and return its SHA-256 (hex).

    ``data`` may be a sequence of chunks (e.g. a preamble, meta header and dataset) so callers need
    not concatenate large buffers.

    Raises
    ------
    SpoolWriteError
        Naming the target file and the OS reason (disk full, permission denied ...).
    """
    sha256, _size = write_atomically_sized(target, data, fsync=fsync, mode=mode)
    return sha256


def write_atomically_sized(
    target: Path,
    data: bytes | Sequence[bytes],
    *,
    fsync: bool = True,
    mode: int = 0o600,
    sha256: str | None = None,
) -> tuple[str, int]:
    """:func:`write_atomically`, returning the SHA-256 and the number of bytes written.

    The receive path's version: string paths, and the folder created only when the first open finds
    it missing (one syscall saved per instance; a folder removed meanwhile, e.g. by a purge, is made
    again). ``sha256``: the caller hashed these very bytes already (the listener's journal did), so
    they are not hashed twice.
    """
    chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
    digest = hashlib.sha256()
    final = os.fspath(target)
    folder, name = os.path.split(final)
    tmp = f"{folder}/.{name}.{os.getpid()}.{threading.get_ident()}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    size = 0
    try:
        try:
            fd = os.open(tmp, flags, mode)
        except FileNotFoundError:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(tmp, flags, mode)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                if sha256 is None:
                    digest.update(view)
                size += len(view)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        if fsync:
            fsync_directory(Path(folder))
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SpoolWriteError(f"{name}: could not be written to the spool: {exc.strerror or exc}") from exc
    return sha256 or digest.hexdigest(), size
