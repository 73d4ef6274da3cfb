"""Fixtures of the listener tests: a site file, an in-process listener, a listener process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.site_config import SiteConfig, load_site_config
from tests.listener_site import RunningListener, start_listener_in_process, write_site

REPO_ROOT = Path(__file__).resolve().parents[2]


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
