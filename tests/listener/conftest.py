"""Fixtures of the listener tests: a site file, an in-process listener, a listener process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from resources.listener.service import ListenerPlan, serve
from resources.site_config import SiteConfig, load_site_config

REPO_ROOT = Path(__file__).resolve().parents[2]
PACS_AE = "PACS"
LAKE_AE = "DICOM_LAKE"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_site(root: Path, *, listener: dict[str, Any] | None = None, **sections: Any) -> Path:
    """A site file whose folders live under ``root``; returns its path."""
    data: dict[str, Any] = {
        "partitions_start_date": "2026-01-01",
        "folders": {"root": str(root)},
        "listener": {
            "bind_address": "127.0.0.1",
            "port": free_port(),
            "allowed_calling_ae_titles": [PACS_AE],
            "quiet_period_s": 2,
            "max_associations": 30,
            **(listener or {}),
        },
        **sections,
    }
    path = root / "dicom-lake.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class RunningListener:
    config: SiteConfig
    port: int
    stop: threading.Event
    thread: threading.Thread

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def start_listener_in_process(config: SiteConfig) -> RunningListener:
    plan = ListenerPlan(
        settings=config.listener,
        spool_root=config.paths.spool,
        quarantine_root=config.paths.quarantine,
        base_dir=config.base_dir,
    )
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=serve, args=(plan, stop, ready), daemon=True)
    thread.start()
    assert ready.wait(10), "listener did not start"
    return RunningListener(config=config, port=config.listener.port, stop=stop, thread=thread)


@pytest.fixture(params=["native", "pynetdicom"])
def site(tmp_path: Path, request: pytest.FixtureRequest) -> SiteConfig:
    """A site whose listener uses each receive engine in turn."""
    return load_site_config(write_site(tmp_path / "site", listener={"engine": request.param}))


@pytest.fixture()
def listener(site: SiteConfig) -> Iterator[RunningListener]:
    running = start_listener_in_process(site)
    yield running
    running.close()


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class ListenerProcess:
    """``dicom-lake listen`` as a real process (so it can be SIGKILLed)."""

    def __init__(self, config_path: Path, port: int, *, workers: int = 1, log: Path) -> None:
        self.config_path = config_path
        self.port = port
        self.workers = workers
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "dicom-lake"),
                "--config",
                str(self.config_path),
                "listen",
                "--workers",
                str(self.workers),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "TCP_NODELAY": "1", "PYTHONPATH": str(REPO_ROOT)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches every worker
        )
        wait_for_port(self.port)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
