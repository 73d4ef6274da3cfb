"""Curation joins the de-identification stage's arrival delays to the instance rows (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resources.curation import PartitionCurator
from resources.curation.arrival_delays import ARRIVAL_FILE, read_arrivals
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.tables import CURATION_TABLES
from tests.curation.conftest import make_dataset
from tests.dicom_builder import write_instance
from tests.warehouse.backends import BACKENDS

PARTITION = "2026-11-10"


def _files(folder: Path, n: int) -> list[Path]:
    return [write_instance(make_dataset("CT", InstanceNumber=i + 1), folder) for i in range(n)]


def _sidecar(folder: Path, lines: list[dict[str, Any] | str]) -> Path:
    path = folder / ARRIVAL_FILE
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_delays_fill_the_instance_rows_and_doubtful_ones_are_flagged(
    make_warehouse: Warehouse, tmp_path: Path
) -> None:
    make_warehouse.upgrade()
    files = _files(tmp_path / "research", 4)
    uids = [path.stem for path in files]
    sidecar = _sidecar(
        tmp_path,
        [
            {
                "sop_instance_uid": uids[0],
                "arrival_delay_s": 312.5,
                "arrival_path": "prospective",
                "flag": None,
            },
            {
                "sop_instance_uid": uids[1],
                "arrival_delay_s": -42.0,
                "arrival_path": "prospective",
                "flag": "negative",
            },
            {"sop_instance_uid": uids[2], "arrival_delay_s": 9e6, "arrival_path": "retrieval", "flag": None},
            # uids[3] has no line: its columns stay empty.
        ],
    )
    with make_warehouse.writing_partition(Lineage(PARTITION, "run-1"), CURATION_TABLES) as writer:
        summary = PartitionCurator().curate(files, writer, arrivals=sidecar)
    assert summary.flags_by_rule["arrival_delay_negative"] == 1

    rows = make_warehouse.read_frame(
        "SELECT sop_instance_uid, arrival_delay_s, arrival_path FROM instance"
    ).set_index("sop_instance_uid")
    assert rows.loc[uids[0]].tolist() == [312.5, "prospective"]
    assert rows.loc[uids[1]].tolist() == [-42.0, "prospective"]  # kept, not dropped
    assert rows.loc[uids[2]].tolist() == [9e6, "retrieval"]
    assert rows.loc[uids[3]].isna().all()
    flags = make_warehouse.read_frame(
        "SELECT sop_instance_uid, rule, field_name, value FROM quality_flag WHERE rule LIKE 'arrival%'"
    )
    assert flags.to_dict("records") == [
        {
            "sop_instance_uid": uids[1],
            "rule": "arrival_delay_negative",
            "field_name": "arrival_delay_s",
            "value": "-42",
        }
    ]


@pytest.mark.parametrize("make_warehouse", BACKENDS[:1], indirect=True)
def test_a_partition_without_a_sidecar_leaves_the_columns_empty(
    make_warehouse: Warehouse, tmp_path: Path
) -> None:
    make_warehouse.upgrade()
    files = _files(tmp_path / "research", 2)
    with make_warehouse.writing_partition(Lineage(PARTITION, "run-1"), CURATION_TABLES) as writer:
        PartitionCurator().curate(files, writer, arrivals=tmp_path / "absent" / ARRIVAL_FILE)
    frame = make_warehouse.read_frame("SELECT arrival_delay_s, arrival_path FROM instance")
    assert len(frame) == 2 and frame.isna().all().all()


def test_bad_lines_are_skipped_with_a_warning_and_values_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sidecar = _sidecar(
        tmp_path,
        [
            "not json",
            {"arrival_delay_s": 1.0},
            {"sop_instance_uid": "2.25.1", "arrival_delay_s": "300", "arrival_path": "prospective"},
            {"sop_instance_uid": "2.25.2", "arrival_delay_s": True, "arrival_path": ""},
            {
                "sop_instance_uid": "2.25.3",
                "arrival_delay_s": 7,
                "arrival_path": "x" * 40,
                "flag": "implausible",
            },
        ],
    )
    with caplog.at_level("WARNING"):
        arrivals = read_arrivals(sidecar)
    assert "line 1: not JSON" in caplog.text and "line 2: no sop_instance_uid" in caplog.text
    assert set(arrivals) == {"2.25.1", "2.25.2", "2.25.3"}
    assert (arrivals["2.25.1"].delay_s, arrivals["2.25.1"].path) == (None, "prospective")  # text is no number
    assert (arrivals["2.25.2"].delay_s, arrivals["2.25.2"].path) == (None, None)
    assert arrivals["2.25.3"] == type(arrivals["2.25.3"])(7.0, "x" * 16, "implausible")
