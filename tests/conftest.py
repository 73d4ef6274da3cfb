"""Shared pytest set-up.

In CI (``CI=true``) a skipped test is a failure: tests of real parts (Orthanc, dcmtk, PostgreSQL, the
openrem wheel) skip on a developer machine that lacks them, but CI installs them and must run them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".cache"
OPENREM_REQUIREMENT = "openrem==1.0.0b3"
OPENREM_TEST_FILES = "openrem/remapp/tests/test_files/"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every real part must run: {reason}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def openrem_test_files() -> Path:
    """Real vendor DICOM files from the openrem wheel (GPL: fetched at test time, never committed)."""
    target = CACHE / "openrem" / "test_files"
    if target.is_dir() and any(target.iterdir()):
        return target
    wheel_dir = CACHE / "openrem" / "wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = list(wheel_dir.glob("openrem-*.whl"))
    if not wheels:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                OPENREM_REQUIREMENT,
                "-d",
                str(wheel_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        wheels = list(wheel_dir.glob("openrem-*.whl"))
        if result.returncode != 0 or not wheels:
            pytest.skip(f"could not download {OPENREM_REQUIREMENT} from PyPI: {result.stderr.strip()[-300:]}")
    tmp = target.with_name("test_files.part")
    with zipfile.ZipFile(wheels[0]) as wheel:
        for member in wheel.namelist():
            if member.startswith(OPENREM_TEST_FILES) and not member.endswith("/"):
                dest = tmp / member[len(OPENREM_TEST_FILES) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(wheel.read(member))
    tmp.rename(target)
    return target


@pytest.fixture()
def site_folders(tmp_path: Path) -> Iterator[Path]:
    """A temporary site root for one test."""
    root = tmp_path / "site"
    root.mkdir()
    yield root
