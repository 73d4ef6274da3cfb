"""`dagster dev` and `dg dev` find the single Definitions through pyproject.toml and load it cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(BIN.parent)}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_dagster_cli_validates_the_project_definitions(tmp_path: Path) -> None:
    result = run([str(BIN / "dagster"), "definitions", "validate"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location dicom_lake" in result.stderr + result.stdout


def test_dg_cli_loads_the_project_definitions(tmp_path: Path) -> None:
    result = run([str(BIN / "dg"), "check", "defs"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "All definitions loaded successfully" in output
    assert "does not match" not in output


def test_loading_the_definitions_prints_no_warning() -> None:
    """What an operator sees when the UI, the daemon or ``make demo`` loads the code: no warning text
    (the per-partition checks' preview warning is known and filtered where it is chosen)."""
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import orchestration.definitions"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Warning" not in result.stderr, result.stderr[-2000:]
