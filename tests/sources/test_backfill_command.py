"""``dicom-lake backfill`` with sources: every date x chosen source, listed one by one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestration.cli import main
from orchestration.cli.operations_commands import backfill_command_line


def test_sources_list_each_date_of_each_source() -> None:
    line = backfill_command_line(dt.date(2026, 11, 9), dt.date(2026, 11, 10), sources=["west", "east"])
    keys = line[line.index("--partitions") + 1].split(",")
    assert keys == ["2026-11-09|west", "2026-11-09|east", "2026-11-10|west", "2026-11-10|east"]
    assert "--from" not in line


def test_one_source_backfills_a_date_range() -> None:
    line = backfill_command_line(dt.date(2026, 11, 9), dt.date(2026, 11, 10))
    assert line[line.index("--from") + 1 : line.index("--from") + 4] == ["2026-11-09", "--to", "2026-11-10"]


def test_an_unknown_source_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    site = tmp_path / "dicom-lake.yaml"
    site.write_text(
        "partitions_start_date: 2026-01-01\n"
        "sources:\n  - name: west\n  - name: east\n    pacs: {storage_scp_port: 2}\n"
    )
    code = main(
        ["--config", str(site), "backfill", "--from", "2026-11-09", "--to", "2026-11-09", "--source", "north"]
    )
    assert code == 2
    assert "--source north: not a source of the site file (west, east)" in capsys.readouterr().err
