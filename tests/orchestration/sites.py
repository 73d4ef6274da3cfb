"""Helpers of the orchestration tests: a site file, an in-process listener, storescu, the PostgreSQL peer."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from resources.listener.service import ListenerPlan, serve
from resources.site_config import SiteConfig
from tests.peers import NODELAY_ENV, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "orchestration" / "instance"
PACS_AE = "PACS"
LAKE_AE = "DICOM_LAKE"
PG_HOST = os.environ.get("DICOM_LAKE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DICOM_LAKE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("DICOM_LAKE_TEST_PG_USER", "postgres")


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
    """The site's listener on a thread of this process; ``close()`` stops it."""
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


def require_dcmtk(*tools: str) -> None:
    missing = [tool for tool in tools or ("storescu",) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"dcmtk tool(s) not installed: {', '.join(missing)} (Debian package dcmtk)")


def run_storescu(
    port: int,
    files: Sequence[Path],
    *,
    calling_ae: str = PACS_AE,
    called_ae: str = LAKE_AE,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu sending ``files`` to 127.0.0.1:``port``, started the way TESTING.md says."""
    # -R: propose only the contexts the files need; -nh: no halt on a failed store.
    command = ["storescu", "-R", "-nh", "-aet", calling_ae, "-aec", called_ae, "127.0.0.1", str(port)]
    return subprocess.run(
        [*command, *map(str, files)],
        env={**os.environ, **NODELAY_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
