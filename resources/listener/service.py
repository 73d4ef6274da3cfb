"""Running the listener as a service: one process, or several processes sharing the port.

``run_listener`` is what ``dicom-lake listen`` calls. With ``workers > 1`` the port is bound by every
worker with ``SO_REUSEPORT`` and the kernel spreads incoming associations over them, so concurrent
senders are served by several interpreters instead of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from resources.listener.health import HealthServer, status_folder
from resources.listener.storage_listener import StorageListener
from resources.listener.tls import tls_context
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerPlan:
    """Everything a listener process needs (picklable, so workers can be spawned)."""

    settings: ListenerSettings
    spool_root: Path
    quarantine_root: Path
    base_dir: Path
    reuse_port: bool = False
    # With several sources: the source this listener's forwards come from; its name is added to the
    # partition key of every instance (resources/partition_keys.py). None: keys are study dates.
    partition_source: str | None = None

    @property
    def fsync(self) -> bool:
        return self.settings.fsync


def reserve_shared_port(bind_address: str, port: int) -> tuple[socket.socket, int]:
    """Bind (without listening) a ``SO_REUSEPORT`` socket to learn the port the workers will share.

    Keeping this socket open while the workers bind keeps a port chosen by the kernel (port 0) ours;
    a socket that never listens receives no connections.

    Raises
    ------
    OSError
        If the address cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bind_address, port))
    return sock, int(sock.getsockname()[1])


def _install_stop_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread (tests)
            signal.signal(signum, handler)


def serve(plan: ListenerPlan, stop: threading.Event, ready: threading.Event | None = None) -> StorageListener:
    """Serve in this process until ``stop`` is set; returns the (stopped) listener.

    Raises
    ------
    ListenerConfigError
        If the settings cannot work (empty allow-list, bad TLS files).
    OSError
        If the address cannot be bound.
    """
    spool = SpoolStore(plan.spool_root, fsync=plan.fsync)
    quarantine = QuarantineStore(plan.quarantine_root)
    listener = StorageListener(
        plan.settings,
        spool,
        quarantine,
        reuse_port=plan.reuse_port,
        ssl_context=tls_context(plan.settings, plan.base_dir),
        status_file=status_folder(plan.spool_root) / f"{multiprocessing.current_process().pid}.json",
        partition_source=plan.partition_source,
    )
    listener.start()
    health: HealthServer | None = None
    if plan.settings.health_port is not None and not plan.reuse_port:
        health = HealthServer(plan.settings.bind_address, plan.settings.health_port, listener.status)
        log.info("listener health endpoint: http://%s:%d/health", plan.settings.bind_address, health.start())
    if ready is not None:
        ready.set()
    try:
        stop.wait()
    finally:
        if health is not None:
            health.stop()
        listener.stop()
    return listener


def _worker_main(plan: ListenerPlan) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    stop = threading.Event()
    _install_stop_signals(stop)
    serve(plan, stop)


def run_listener(plan: ListenerPlan, *, workers: int = 1, stop: threading.Event | None = None) -> int:
    """Run the listener until SIGTERM/SIGINT (or ``stop``); returns an exit code.

    Partial files a killed listener left behind (``.part``) are swept before serving: they were never
    acknowledged, so the sender resends those instances.

    Raises
    ------
    ListenerConfigError
        If the settings cannot work.
    OSError
        If the address cannot be bound.
    """
    stop = stop or threading.Event()
    spool = SpoolStore(plan.spool_root, fsync=plan.fsync)
    swept = spool.sweep_partial_files()
    spool.close()
    if swept:
        log.info("removed %d partial file(s) left by an interrupted listener", swept)
    for stale in status_folder(plan.spool_root).glob("*.json"):
        with contextlib.suppress(OSError):
            stale.unlink()
    _install_stop_signals(stop)
    if workers <= 1:
        serve(plan, stop)
        return 0

    reserved, port = reserve_shared_port(plan.settings.bind_address, plan.settings.port)
    shared = dataclasses.replace(
        plan, settings=plan.settings.model_copy(update={"port": port}), reuse_port=True
    )
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_main, args=(shared,), name=f"listener-{i}", daemon=False)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    log.info("listener: %d worker processes sharing %s:%d", workers, plan.settings.bind_address, port)
    try:
        while not stop.wait(1.0):
            if any(not p.is_alive() for p in processes):
                log.error("a listener worker exited; stopping the others")
                break
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + 30
        for process in processes:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                log.error("listener worker %s did not stop in 30 s; killing it", process.pid)
                process.kill()
                process.join(timeout=5)
        reserved.close()
    failed = [p.exitcode for p in processes if p.exitcode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0
