"""The most a durable receiver can reach on this machine: minimal receivers behind our acceptor.

``benchmarks/listener.py --ceiling`` runs these beside dcmtk and ``dicom-lake listen`` in the same
rounds. Each minimal receiver is our native acceptor (the same PDU reading and C-STORE answers as
the listener) with a receive callback that does only one thing, in worker processes sharing the
port like ``dicom-lake listen --workers``:

- ``null``: nothing (answers Success): what the network path alone costs;
- ``file``: writes each instance to its own file, temporary name then rename, no fsync: about what
  dcmtk ``storescp`` does;
- ``durable``: appends the instance to a preallocated journal with one ``pwritev(RWF_DSYNC)`` (a
  durable write, the cheapest there is on Linux), then writes the file as ``file`` does: the least
  any receiver must do to acknowledge only what survives a power cut and keep one file per instance.
  No header scan, no index, no partitioning.
- ``journal``: appends the instance to a preallocated journal with a plain write and answers once a
  group fdatasync covers it (the first waiting thread leads it, covering every record written when
  it starts: the listener journal's own design), and writes no file at all: the least any receiver
  must do to acknowledge only what survives a power cut.

If ``journal`` stays below a target against dcmtk, no design of the listener's receive path can meet
that target on this machine: what is left is the wait for the storage's flush.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from resources.dicom_network.acceptor import NativeAcceptor
from resources.listener.engine_settings import acceptor_settings
from resources.listener.storage_contexts import storage_contexts
from resources.site_config import ListenerSettings

MODES = ("null", "file", "durable", "journal")
# Per worker, zero-filled up front; used as a ring (a benchmark's records need not survive), so that
# no durable write ever extends the file, whatever the instance size.
PREALLOCATED_BYTES = 64 << 20


class _MinimalReceiver:
    """The receive callback of one minimal receiver (see the module docstring)."""

    def __init__(self, mode: str, folder: Path) -> None:
        self.mode = mode
        self.folder = folder
        self._lock = threading.Lock()
        self._offset = 0
        self._journal = -1
        self._synced = threading.Condition(self._lock)
        self._durable = 0
        self._syncing = False
        if mode in ("durable", "journal"):
            # Written (not only allocated) up front, so that a durable write changes no metadata.
            self._journal = os.open(folder / "journal", os.O_RDWR | os.O_CREAT, 0o600)
            zeros = bytes(1 << 20)
            for offset in range(0, PREALLOCATED_BYTES, len(zeros)):
                os.pwrite(self._journal, zeros, offset)
            os.fsync(self._journal)

    def receive(self, encoded: bytes, sop_instance_uid: str, sop_class_uid: str, calling_ae: str) -> int:
        if self.mode == "durable":
            with self._lock:
                offset = self._reserve(len(encoded))
            os.pwritev(self._journal, [encoded], offset, os.RWF_DSYNC)
        if self.mode == "journal":
            self._append_and_group_sync(encoded)
        if self.mode in ("file", "durable"):
            name = sop_instance_uid if sop_instance_uid.replace(".", "").isdigit() else "unnamed"
            final, part = self.folder / f"{name}.dcm", self.folder / f"{name}.part"
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, encoded)
            finally:
                os.close(fd)
            os.replace(part, final)
        return 0

    def _reserve(self, length: int) -> int:
        # Called with the lock held: the file offset for ``length`` bytes (self._offset counts every
        # byte appended; the file offset wraps round the preallocated bytes).
        offset = self._offset % PREALLOCATED_BYTES
        if offset + length > PREALLOCATED_BYTES:
            self._offset += PREALLOCATED_BYTES - offset  # skip the rest of the ring
            offset = 0
        self._offset += length
        return offset

    def _append_and_group_sync(self, encoded: bytes) -> None:
        # A plain write, then one fdatasync per group: the first waiting thread leads it, covering
        # every record written when it starts (the listener journal's design, without anything else).
        with self._lock:
            # Written under the lock, so that whatever lies below _offset is written when a sync starts.
            os.pwrite(self._journal, encoded, self._reserve(len(encoded)))
            end = self._offset
            while self._durable < end:
                if self._syncing:
                    self._synced.wait()
                    continue
                self._syncing = True
                target = self._offset
                self._lock.release()
                try:
                    os.fdatasync(self._journal)
                finally:
                    self._lock.acquire()
                    self._syncing = False
                self._durable = max(self._durable, target)
                self._synced.notify_all()

    def __getattr__(self, name: str) -> Any:
        # The acceptor's other receiver calls (association accepted, released ...): nothing to do.
        return lambda *args, **kwargs: None


def _serve(mode: str, port: int, folder: Path, ready: Any) -> None:
    settings = ListenerSettings(
        bind_address="127.0.0.1", port=port, allowed_calling_ae_titles=["PACS"], max_associations=20
    )
    acceptor = NativeAcceptor(
        acceptor_settings(settings, storage_contexts()),
        _MinimalReceiver(mode, folder),  # type: ignore[arg-type]
        bind=("127.0.0.1", port),
        reuse_port=True,
    )
    acceptor.start()
    ready.set()
    while True:
        time.sleep(3600)


def process_cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def run_minimal(mode: str, work: Path, workers: int, port: int, send: Any) -> tuple[float, float]:
    """Instances/s and CPU us per instance of ``send()`` into ``workers`` minimal receivers."""
    context = multiprocessing.get_context("fork")
    processes = []
    try:
        for i in range(workers):
            folder = Path(tempfile.mkdtemp(prefix=f"minimal-{mode}-{i}-", dir=work))
            ready = context.Event()
            process = context.Process(target=_serve, args=(mode, port, folder, ready), daemon=True)
            process.start()
            processes.append(process)
            if not ready.wait(60):
                raise SystemExit(f"minimal receiver {mode} did not start")
        pids = [p.pid for p in processes if p.pid is not None]
        cpu_before = process_cpu_seconds(pids)
        count, seconds = send()
        cpu_us = (process_cpu_seconds(pids) - cpu_before) * 1e6 / count
    finally:
        for process in processes:
            process.kill()
            process.join(timeout=10)
    return count / seconds, cpu_us
