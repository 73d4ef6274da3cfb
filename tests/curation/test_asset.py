"""The curation asset and its checks, run through Dagster on a temporary site (SQLite warehouse)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from assets.curation import (
    curated_field_completeness,
    curated_instances,
    curated_partition_not_empty,
    curated_quality_flags,
)
from orchestration.cli import main as cli_main
from resources.curation.resource import CurationResource
from resources.site_resource import SiteConfigResource
from resources.warehouse.resource import WarehouseResource
from tests.curation.conftest import make_dataset
from tests.dicom_builder import write_instance

PARTITION = "2026-11-10"


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)
    config = tmp_path / "dicom-lake.yaml"
    config.write_text(yaml.safe_dump({"folders": {"root": "var"}, "warehouse": {"ctdivol_ceiling_mgy": 6.0}}))
    return config


def _research_partition(site: Path, n: int) -> Path:
    folder = site.parent / "var" / "research" / PARTITION
    for i in range(n):
        write_instance(
            make_dataset("CT", StudyInstanceUID="2.25.1", SeriesInstanceUID="2.25.2", InstanceNumber=i),
            folder,
        )
    (folder / "_deid_summary.json").write_text('{"profile_version": "ps315-2026c+abc"}')
    return folder


def _run(site: Path) -> dg.ExecuteInProcessResult:
    config = SiteConfigResource(config_path=str(site))
    warehouse = WarehouseResource(site=config)
    return dg.materialize(
        [curated_instances, curated_partition_not_empty, curated_field_completeness, curated_quality_flags],
        resources={"warehouse": warehouse, "curation": CurationResource(site=config, warehouse=warehouse)},
        partition_key=PARTITION,
        raise_on_error=False,
    )


def test_asset_writes_rows_with_lineage_and_checks_pass(site: Path) -> None:
    _research_partition(site, 5)
    result = _run(site)
    assert result.success
    materialization = result.asset_materializations_for_node("curated_instances")[0]
    assert materialization.metadata["dagster/row_count"].value == 5
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["curated_partition_not_empty"].passed
    assert checks["curated_quality_flags"].passed  # warnings only: no error-severity flag
    flags = checks["curated_quality_flags"].metadata["flag_counts"].value
    completeness = checks["curated_field_completeness"]
    assert completeness.passed
    assert completeness.metadata["field_completeness"].value["ct_acquisition.ctdivol_mgy"] == 1.0
    assert completeness.metadata["field_completeness"].value["mg_exposure.organ_dose_mgy"] is None
    assert completeness.metadata["device_completeness"].value == {"CT2": {"ct_ctdivol": 1.0}}
    assert flags == {"warning": {"ctdivol_above_ceiling": 5}}  # 6.5 mGy against the site's 6.0 ceiling
    warehouse_file = site.parent / "var" / "warehouse.sqlite"
    frame = pd.read_sql("SELECT * FROM instance", f"sqlite:///{warehouse_file}")
    assert set(frame.partition_key) == {PARTITION}
    assert set(frame.deid_profile_version) == {"ps315-2026c+abc"}
    assert set(frame.run_id) == {result.run_id}


def test_blocking_check_fails_on_an_empty_partition(site: Path) -> None:
    result = _run(site)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["curated_partition_not_empty"].passed
    assert checks["curated_partition_not_empty"].severity == dg.AssetCheckSeverity.ERROR
    assert "no curated instances" in (checks["curated_partition_not_empty"].description or "")


def test_export_drops_lineage_by_default_and_writes_both_formats(site: Path, tmp_path: Path) -> None:
    _research_partition(site, 3)
    assert _run(site).success
    out = tmp_path / "out"
    for fmt in ("csv", "parquet"):
        code = cli_main(
            [
                "--config",
                str(site),
                "export",
                "--tables",
                "studies",  # the plural people type, and space-separated names
                "instance",
                "--from",
                PARTITION,
                "--to",
                PARTITION,
                "--format",
                fmt,
                "--out",
                str(out / fmt),
            ]
        )
        assert code == 0
    csv = pd.read_csv(out / "csv" / "instance.csv")
    parquet = pd.read_parquet(out / "parquet" / "instance.parquet")
    assert len(csv) == len(parquet) == 3
    assert "partition_key" not in csv.columns and "run_id" not in parquet.columns
    assert list(csv.sop_instance_uid) == list(parquet.sop_instance_uid)
    assert len(pd.read_csv(out / "csv" / "study.csv")) == 1
    code = cli_main(
        [
            "--config",
            str(site),
            "export",
            "--tables",
            "instance",
            "--from",
            "2026-11-11",
            "--to",
            "2026-11-12",
            "--format",
            "csv",
            "--out",
            str(out / "empty"),
            "--with-lineage",
        ]
    )
    assert code == 0
    empty = pd.read_csv(out / "empty" / "instance.csv")
    assert len(empty) == 0 and "partition_key" in empty.columns


def test_export_of_an_unknown_table_is_a_clear_error(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _research_partition(site, 1)
    assert _run(site).success
    code = cli_main(
        [
            "--config",
            str(site),
            "export",
            "--tables",
            "nope",
            "--from",
            PARTITION,
            "--to",
            PARTITION,
            "--format",
            "csv",
            "--out",
            str(site.parent / "x"),
        ]
    )
    assert code == 2
    assert "unknown table(s): nope" in capsys.readouterr().err


def test_completeness_check_warns_when_ctdivol_is_mostly_missing(site: Path) -> None:
    folder = site.parent / "var" / "research" / PARTITION
    for i in range(4):
        ctdivol = 7.0 if i == 0 else None
        ds = make_dataset("CT", StudyInstanceUID="2.25.5", InstanceNumber=i, CTDIvol=ctdivol)
        write_instance(ds, folder)
    result = _run(site)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    completeness = checks["curated_field_completeness"]
    assert not completeness.passed and completeness.severity == dg.AssetCheckSeverity.WARN
    assert completeness.metadata["field_completeness"].value["ct_acquisition.ctdivol_mgy"] == 0.25
    assert (
        checks["curated_quality_flags"].metadata["flag_counts"].value["warning"]["missing_required_tag"] == 3
    )
    assert checks["curated_partition_not_empty"].passed  # incomplete dose fields do not block
