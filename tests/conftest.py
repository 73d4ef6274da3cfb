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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Test helpers are imported as ``tests.<module>`` (e.g. ``tests.peers``) whatever pytest's rootdir
# insertion put on sys.path.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
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


# -- real DICOM peers (Orthanc, dcmtk): see tests/peers.py for the classes --------------------------------
LAKE_AE_TITLE = "DICOM_LAKE"


@dataclass
class OrthancForTests:
    """A running Orthanc plus the storage SCP address it knows as the ``lake`` C-MOVE destination.

    ``lake_port`` is reserved for our storage SCP (start it on that port); ``peer`` is the
    :class:`tests.peers.OrthancPeer` (``dicom_port``, ``http_port``, ``ae_title``, ``upload``,
    ``clear``, ``add_modality``, ``rest``).
    """

    peer: Any
    lake_ae_title: str
    lake_port: int


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancForTests]:
    """A private Orthanc (started with TCP_NODELAY=1) on free loopback ports, one per test module.

    It knows one modality ``lake`` = (``DICOM_LAKE``, 127.0.0.1, ``lake_port``) allowed to echo,
    find, move, get and store; unknown calling AE titles are refused for find/move/get. Data is loaded
    through ``orthanc.peer.upload(paths)``; call ``orthanc.peer.clear()`` between tests that need an
    empty archive. Skips when the ``Orthanc`` binary is missing (CI turns the skip into a failure).
    """
    from tests.peers import OrthancPeer, free_port, missing_binaries

    if missing_binaries("Orthanc"):
        pytest.skip("Orthanc is not installed (Debian package 'orthanc')")
    lake_port = free_port()
    peer = OrthancPeer(
        tmp_path_factory.mktemp("orthanc"),
        modalities={"lake": (LAKE_AE_TITLE, "127.0.0.1", lake_port)},
        extra_config={"DicomAlwaysAllowGet": False},
    )
    peer.start()
    try:
        yield OrthancForTests(peer=peer, lake_ae_title=LAKE_AE_TITLE, lake_port=lake_port)
    finally:
        peer.stop()


@dataclass
class DcmqrscpForTests:
    """A running dcmqrscp archive that knows ``DICOM_LAKE`` at 127.0.0.1:``lake_port``."""

    peer: Any
    lake_ae_title: str
    lake_port: int


@pytest.fixture(scope="module")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DcmqrscpForTests]:
    """dcmtk's dcmqrscp (TCP_NODELAY=1) as a stricter archive; load with ``dcmqrscp.peer.load(paths)``.

    Skips when dcmqrscp or storescu is missing (CI turns the skip into a failure).
    """
    from tests.peers import DcmqrscpPeer, free_port, missing_binaries

    missing = missing_binaries("dcmqrscp", "storescu")
    if missing:
        pytest.skip(f"dcmtk tools missing: {', '.join(missing)} (Debian package 'dcmtk')")
    lake_port = free_port()
    peer = DcmqrscpPeer(tmp_path_factory.mktemp("dcmqrscp"), peers={LAKE_AE_TITLE: ("127.0.0.1", lake_port)})
    peer.start()
    try:
        yield DcmqrscpForTests(peer=peer, lake_ae_title=LAKE_AE_TITLE, lake_port=lake_port)
    finally:
        peer.stop()
