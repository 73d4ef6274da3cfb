"""A site file and an in-process listener, shared by the listener, orchestration and fault tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from resources.listener.service import ListenerPlan, serve
from resources.site_config import SiteConfig
from tests.peers import free_port

PACS_AE = "PACS"
LAKE_AE = "DICOM_LAKE"


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
