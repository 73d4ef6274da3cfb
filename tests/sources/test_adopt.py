"""``dicom-lake partitions adopt``: a one-source lake's date partitions become its first source's."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.cli import main
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.spool.store import SpoolStore
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import Patient, Study

DAY = "2026-11-09"


def one_source_lake(root: Path) -> Warehouse:
    """What a one-PACS site has after a run of DAY: warehouse rows, spool files, research and quarantine."""
    warehouse = Warehouse(f"sqlite:///{root / 'warehouse.sqlite'}")
    warehouse.upgrade()
    warehouse.replace_partition(
        Lineage(DAY, "run-1"),
        {Study: [{"study_instance_uid": "2.25.1", "n_series": 1}], Patient: [{"patient_pseudonym": "P1"}]},
    )
    warehouse.replace_partition(Lineage("all", "run-2"), {Patient: [{"patient_pseudonym": "P1"}]})
    spool = SpoolStore(root / "spool")
    spool.store(
        b"DICM-bytes",
        sop_instance_uid="2.25.11",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_uid="2.25.1",
        series_uid="2.25.10",
        partition_key=DAY,
        source="pacs",
    )
    research = ResearchStore(root / "research")
    (research.partition_folder(DAY) / "study").mkdir(parents=True, exist_ok=True)
    (research.partition_folder(DAY) / "study" / "a.dcm").write_bytes(b"deid")
    QuarantineStore(root / "quarantine").put(
        stage="deid", partition_key=DAY, name="bad.dcm", reason="r", data=b"x"
    )
    return warehouse


def site(root: Path) -> Path:
    path = root / "dicom-lake.yaml"
    path.write_text(
        f"folders: {{root: {root}}}\n"
        "sources:\n"
        "  - name: west\n    pacs: {storage_scp_port: 11113}\n"
        "  - name: east\n    pacs: {storage_scp_port: 11213}\n"
    )
    return path


def keys(warehouse: Warehouse, table: str) -> list[str]:
    with warehouse.engine.connect() as con:
        return sorted(r[0] for r in con.execute(sa.text(f"SELECT partition_key FROM {table}")))


def test_adopt_renames_every_store_once_and_a_rerun_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = one_source_lake(tmp_path)
    config = site(tmp_path)

    assert main(["--config", str(config), "partitions", "adopt", "--source", "west", "--dry-run"]) == 0
    assert keys(warehouse, "study") == [DAY], "a dry run changes nothing"
    assert "would rename" in capsys.readouterr().out

    assert main(["--config", str(config), "partitions", "adopt", "--source", "west"]) == 0
    assert keys(warehouse, "study") == [f"{DAY}|west"]
    assert keys(warehouse, "patient") == [f"{DAY}|west", "all"], "whole-warehouse rows keep 'all'"
    spool = SpoolStore(tmp_path / "spool")
    (record,) = spool.instances(f"{DAY}|west")
    assert Path(record.path).read_bytes().endswith(b"DICM-bytes"), "the index points at the moved file"
    assert Path(record.path).parent.parent.name == f"{DAY}@west"
    assert spool.instances(DAY) == []
    assert ResearchStore(tmp_path / "research").files(f"{DAY}|west")
    (entry,) = QuarantineStore(tmp_path / "quarantine").entries(partition_key=f"{DAY}|west")
    sidecar = json.loads(Path(str(entry.file) + ".reason.json").read_text())
    assert sidecar["partition_key"] == f"{DAY}|west"

    assert main(["--config", str(config), "partitions", "adopt", "--source", "west"]) == 0
    assert keys(warehouse, "study") == [f"{DAY}|west"], "idempotent"
    second = capsys.readouterr().out.split("renamed to source west:")[-1]
    assert re.search(r"warehouse rows\s+0\s", second) and re.search(r"research folders\s+0\n", second)


def test_adopt_refuses_a_source_the_site_file_does_not_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_source_lake(tmp_path)
    assert main(["--config", str(site(tmp_path)), "partitions", "adopt", "--source", "north"]) == 2
    assert "--source north: not a source of the site file's sources (west, east)" in capsys.readouterr().err


def test_adopt_never_merges_onto_an_existing_source_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_source_lake(tmp_path)
    (tmp_path / "research" / f"{DAY}@west").mkdir()
    assert main(["--config", str(site(tmp_path)), "partitions", "adopt", "--source", "west"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "research" / DAY / "study" / "a.dcm").exists(), "nothing was lost"


def test_source_keys_fit_the_widened_column_and_periods_count_them(tmp_path: Path) -> None:
    from resources.analytics.sql import Period
    from resources.report.sql import partition_params

    warehouse = one_source_lake(tmp_path)
    warehouse.replace_partition(
        Lineage("2026-11-30|a-long-source-name-24ch", "r"), {Study: [{"study_instance_uid": "2.25.2"}]}
    )
    study = sa.table("study", sa.column("partition_key"))
    period = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    with warehouse.engine.connect() as con:
        selected = con.execute(sa.select(study.c.partition_key).where(*period.clauses(study.c.partition_key)))
        assert sorted(r[0] for r in selected) == ["2026-11-09", "2026-11-30|a-long-source-name-24ch"]
        counted = con.execute(
            sa.text("SELECT COUNT(*) FROM study WHERE partition_key >= :start AND partition_key < :after"),
            partition_params(dt.date(2026, 11, 30), dt.date(2026, 11, 30)),
        ).scalar_one()
    assert counted == 1
