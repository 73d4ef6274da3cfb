"""The projection dose assets: on the generated demo site (CT and MG images, no projection dose SRs) they
run cleanly with zero rows; on real fluoroscopy reports they fill the tables and list the alert."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from assets.projection_dose import fluoroscopy_cumulative_dose, projection_dose_events, projection_study_dose
from resources.corpus import CorpusManifest
from resources.dose.projection_resource import ProjectionDoseResource
from resources.site_config import WAREHOUSE_URL_ENV_VAR, DoseSettings, load_site_config
from resources.site_resource import SiteConfigResource

PARTITIONED = [projection_dose_events, projection_study_dose]


def run(config: Path, assets: list, partition_key: str | None = None) -> dg.ExecuteInProcessResult:  # type: ignore[type-arg]
    resources = {"projection_dose": ProjectionDoseResource(site=SiteConfigResource(config_path=str(config)))}
    return dg.materialize(assets, resources=resources, partition_key=partition_key)


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "dicom-lake.yaml"
    config.write_text("folders:\n  root: var\n" + extra)
    return config


def test_demo_site_without_projection_reports_gives_zero_rows(
    tmp_path: Path, generated_site: tuple[Path, CorpusManifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    folder, manifest = generated_site
    day = min(s["study_date"] for s in manifest.studies)
    research = tmp_path / "var" / "research" / day
    for study in manifest.studies:
        if study["study_date"] == day:
            for path in (folder / study["folder"]).rglob("*.dcm"):
                target = research / study["study_uid"] / path.parent.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    config = _config(tmp_path)
    result = run(config, PARTITIONED, day)
    assert result.success
    meta = result.asset_materializations_for_node("projection_dose_events")[0].metadata
    assert meta["files_read"].value > 0
    assert meta["dagster/row_count"].value == meta["projection_dose_reports"].value == 0
    report = run(config, [fluoroscopy_cumulative_dose])
    assert report.success
    summary = report.asset_materializations_for_node("fluoroscopy_cumulative_dose")[0].metadata
    assert summary["dagster/row_count"].value == 0 and summary["patients_in_alert"].value == 0


@pytest.mark.openrem
def test_real_fluoroscopy_studies_fill_the_tables_and_the_alert(
    tmp_path: Path, openrem_test_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    research = tmp_path / "var" / "research"
    placed = {"2016-05-10": "RF-RDSR-Siemens-Zee_adjusted.dcm", "2016-05-12": "RF-RDSR-Siemens-Zee.dcm"}
    for day, name in placed.items():
        (research / day / "study").mkdir(parents=True)
        shutil.copy(openrem_test_files / name, research / day / "study" / name)
    # Thresholds low enough that the second study's 32 cGy.cm2 over the window raises the DAP alert.
    config = _config(tmp_path, "dose:\n  fluoro_alert_dap_cgycm2: 20\n  fluoro_cumulative_window_weeks: 12\n")
    for day in placed:
        result = run(config, PARTITIONED, day)
        assert result.success
        meta = result.asset_materializations_for_node("projection_dose_events")[0].metadata
        assert meta["dagster/row_count"].value == 8 and meta["fluoroscopy_studies"].value == 1
    rerun = run(config, PARTITIONED, "2016-05-12")  # replaces its rows, never duplicates
    assert rerun.success
    report = run(config, [fluoroscopy_cumulative_dose])
    summary = report.asset_materializations_for_node("fluoroscopy_cumulative_dose")[0].metadata
    assert summary["dagster/row_count"].value == 2
    assert summary["patients"].value == 1 and summary["patients_in_alert"].value == 1
    table = summary["patients_nearest_thresholds"].value
    assert "| yes |" in table and "160%" in table  # 32 of 20 cGy.cm2
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'warehouse.sqlite'}")
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT COUNT(*) FROM projection_dose_event")).scalar() == 16
        assert con.execute(sa.text("SELECT COUNT(*) FROM projection_study_dose")).scalar() == 2
        alerts = con.execute(sa.text("SELECT dap_alert FROM fluoroscopy_cumulative_dose ORDER BY study_date"))
        assert [bool(a) for (a,) in alerts] == [False, True]
    engine.dispose()


def test_fluoroscopy_alert_settings_default_to_openrems(tmp_path: Path) -> None:
    defaults = DoseSettings()
    assert defaults.fluoro_cumulative_window_weeks == 12
    assert defaults.fluoro_alert_dap_cgycm2 == 20000.0
    assert defaults.fluoro_alert_dose_rp_gy == 2.0
    custom = load_site_config(_config(tmp_path, "dose:\n  fluoro_alert_dose_rp_gy: 3.5\n"))
    assert custom.dose.fluoro_alert_dose_rp_gy == 3.5 and custom.dose.fluoro_cumulative_window_weeks == 12
    with pytest.raises(ValidationError):
        DoseSettings(fluoro_alert_dap_cgycm2=0)
