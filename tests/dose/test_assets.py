"""The dose assets on a generated site: partitions read from the research store, rows in a SQLite
warehouse, metadata an operator reads; reports over the whole warehouse; reruns replace, never duplicate."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.dose import ct_dose_events, effective_dose, study_dose
from assets.reports import drl_audit, patient_cumulative_dose
from resources.corpus import CorpusManifest
from resources.dose.resource import DoseResource
from resources.site_config import WAREHOUSE_URL_ENV_VAR
from resources.site_resource import SiteConfigResource


@pytest.fixture()
def site(tmp_path: Path, generated_site: tuple[Path, CorpusManifest], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    folder, manifest = generated_site
    config = tmp_path / "dicom-lake.yaml"
    config.write_text(
        "folders:\n  root: var\ndose:\n  cumulative_windows_years: [1, 5]\n  cumulative_alert_msv: 20\n"
    )
    research = tmp_path / "var" / "research"
    # Two partitions keep the test quick while still showing that each run touches only its own rows.
    first_day = min(s["study_date"] for s in manifest.studies)
    partitions: dict[str, int] = {}
    for study in manifest.studies:
        key = first_day if study["study_date"] == first_day else "2026-11-20"
        partitions[key] = partitions.get(key, 0) + (study["modality"] == "CT")
        for path in (folder / study["folder"]).rglob("*.dcm"):
            target = research / key / study["study_uid"] / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return config, partitions, manifest


def run(config: Path, assets: list, partition_key: str | None = None) -> dg.ExecuteInProcessResult:  # type: ignore[type-arg]
    resources = {"dose": DoseResource(site=SiteConfigResource(config_path=str(config)))}
    return dg.materialize(assets, resources=resources, partition_key=partition_key)


def test_partition_chain_then_reports(site) -> None:  # type: ignore[no-untyped-def]
    config, partitions, manifest = site
    for key in sorted(partitions):
        result = run(config, [ct_dose_events, study_dose, effective_dose], key)
        assert result.success
    key = max(partitions, key=lambda k: partitions[k])
    again = run(config, [ct_dose_events, study_dose, effective_dose], key)  # a rerun replaces its rows
    events_meta = again.asset_materializations_for_node("ct_dose_events")[0].metadata
    assert events_meta["ct_studies"].value == partitions[key]
    assert 0.0 <= events_meta["share_with_rdsr"].value <= 1.0

    engine = sa.create_engine(f"sqlite:///{config.parent / 'var' / 'warehouse.sqlite'}")
    with engine.connect() as con:
        n_studies = con.execute(sa.text("SELECT COUNT(*) FROM study_dose")).scalar()
        distinct = con.execute(sa.text("SELECT COUNT(DISTINCT study_instance_uid) FROM study_dose")).scalar()
        n_events = con.execute(sa.text("SELECT COUNT(*) FROM ct_dose_event")).scalar()
        with_e = con.execute(
            sa.text("SELECT COUNT(*) FROM study_effective_dose WHERE effective_dose_msv IS NOT NULL")
        ).scalar()
    ct_studies = [s for s in manifest.studies if s["modality"] == "CT"]
    assert n_studies == distinct == len(ct_studies)
    assert n_events == sum(s["totals"]["n_events"] for s in ct_studies)
    assert with_e and with_e > len(ct_studies) // 2

    reports = run(config, [drl_audit, patient_cumulative_dose])
    assert reports.success
    audit_meta = reports.asset_materializations_for_node("drl_audit")[0].metadata
    assert "| Category |" in audit_meta["medians_vs_drl"].value
    assert "data:image/png;base64," in audit_meta["dlp_per_category"].value
    cumulative_meta = reports.asset_materializations_for_node("patient_cumulative_dose")[0].metadata
    assert cumulative_meta["patients"].value >= 1
    rerun = run(config, [drl_audit, patient_cumulative_dose])
    assert rerun.asset_materializations_for_node("drl_audit")[0].metadata["dagster/row_count"].value == (
        audit_meta["dagster/row_count"].value
    )
    with engine.connect() as con:
        keys = {row[0] for row in con.execute(sa.text("SELECT DISTINCT partition_key FROM drl_audit_row"))}
        n_rows = con.execute(sa.text("SELECT COUNT(*) FROM drl_audit_row")).scalar()
    assert keys == {"all"} and n_rows == audit_meta["dagster/row_count"].value
