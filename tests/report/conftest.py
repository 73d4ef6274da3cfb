"""Fixtures of the report tests: a warehouse made by the demo (the generated corpus pulled from the
embedded demo PACS through the whole chain), the report command run on it, and headless Chromium."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.warehouse.backends import make_warehouse

__all__ = ["make_warehouse"]

DEMO_START = dt.date(2026, 11, 9)
DEMO_DAYS = 3
DEMO_STUDIES = 24
_DEMO_ENV = ("DAGSTER_HOME", "DICOM_LAKE_CONFIG", "DICOM_LAKE_SECRET_KEY", "DICOM_LAKE_WAREHOUSE_URL")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class DemoSite:
    config: Path
    warehouse: Path
    manifest: dict[str, Any]
    start: dt.date
    end: dt.date


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo run once for the session (about 15 s): site file, SQLite warehouse and the corpus manifest."""
    from orchestration.demo import DemoLayout, run_demo

    root = tmp_path_factory.mktemp("report_demo")
    saved = {name: os.environ.get(name) for name in _DEMO_ENV}
    for name in _DEMO_ENV:
        os.environ.pop(name, None)
    try:
        layout = DemoLayout(root=root / "demo", dagster_home=root / "dagster-home")
        summary = run_demo(seed=11, studies=DEMO_STUDIES, start=DEMO_START, days=DEMO_DAYS, layout=layout)
    finally:
        # run_demo points the process at its own site and instance: give the environment back.
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert summary.failed_runs == [], summary.failed_runs
    manifest = json.loads((layout.pacs_data / "manifest.json").read_text(encoding="utf-8"))
    yield DemoSite(
        config=layout.config_path,
        warehouse=layout.root / "warehouse.sqlite",
        manifest=manifest,
        start=DEMO_START,
        end=DEMO_START + dt.timedelta(days=DEMO_DAYS - 1),
    )


@dataclass(frozen=True)
class WrittenReport:
    out: Path
    html: Path
    pdf: Path
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def written_report(demo_site: DemoSite, tmp_path_factory: pytest.TempPathFactory) -> WrittenReport:
    """``dicom-lake report`` on the demo's warehouse, through the command line's own entry point."""
    from orchestration.cli import main

    out = tmp_path_factory.mktemp("report_out") / "period"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            [
                "--config",
                str(demo_site.config),
                "report",
                "--from",
                demo_site.start.isoformat(),
                "--to",
                demo_site.end.isoformat(),
                "--out",
                str(out),
            ]
        )
    return WrittenReport(
        out, out / "report.html", out / "report.pdf", code, stdout.getvalue(), stderr.getvalue()
    )


def chromium_binary() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium; skips when missing (CI installs it and turns the skip into a failure)."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (Debian package 'chromium')")
    return binary


def run_chromium(
    binary: str, profile: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with every host name unresolvable, so a page that tried the network would show it."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # the tests may run as root (CI does)
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
