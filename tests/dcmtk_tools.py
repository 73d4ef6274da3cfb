"""dcmtk command line tools as real peers (``storescu``), started the way TESTING.md says."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

NODELAY_ENV = {"TCP_NODELAY": "1"}


def require_dcmtk(*tools: str) -> None:
    missing = [tool for tool in tools or ("storescu",) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"dcmtk tool(s) not installed: {', '.join(missing)} (Debian package dcmtk)")


def storescu_command(
    port: int, files: Sequence[Path], *, calling_ae: str = "PACS", called_ae: str = "DICOM_LAKE"
) -> list[str]:
    # -R: propose only the contexts the files need; -nh: no C-ECHO first... (dcmtk: no halt on error)
    return [
        "storescu",
        "-R",
        "-nh",
        "-aet",
        calling_ae,
        "-aec",
        called_ae,
        "127.0.0.1",
        str(port),
        *map(str, files),
    ]


def storescu_env() -> dict[str, str]:
    return {**os.environ, **NODELAY_ENV}


def run_storescu(
    port: int,
    files: Sequence[Path],
    *,
    calling_ae: str = "PACS",
    called_ae: str = "DICOM_LAKE",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        storescu_command(port, files, calling_ae=calling_ae, called_ae=called_ae),
        env=storescu_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
