"""The whole-warehouse reports on the embedded demo's corpus, curated and dose-processed by the real
assets: the DRL audit groups by curated canonical device and by source calendar period, the checks
are recorded per partition, and the dose metadata shows distributions and tables."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.curation import curated_field_completeness, curated_instances
from assets.reports import drl_audit, local_drl, patient_cumulative_dose
from resources.dose.audit_inputs import report_studies
from resources.dose.drl import period_of
from resources.site_config import WAREHOUSE_URL_ENV_VAR
from resources.warehouse.store import Warehouse
from tests.dose.lake_site import LakeSite, generated_lake, process


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[LakeSite, dg.DagsterInstance]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
        site = generated_lake(tmp_path_factory.mktemp("lake"))
        instance = dg.DagsterInstance.ephemeral()
        process(site, instance=instance)
        yield site, instance


def _ct_studies(site: LakeSite) -> list[dict]:  # type: ignore[type-arg]
    return [s for s in site.manifest.studies if s["modality"] == "CT"]


def test_audit_groups_by_canonical_device_not_by_label(lake: tuple[LakeSite, dg.DagsterInstance]) -> None:
    site, _ = lake
    engine = sa.create_engine(site.warehouse_url)
    with engine.connect() as con:
        labels = con.execute(sa.text("SELECT count(DISTINCT device) FROM study_dose")).scalar()
    stations = {s["device"]["station_name_canonical"] for s in _ct_studies(site)}
    assert stations == {"CT1", "CT2", "CT3", "CT4"}
    assert labels is not None and labels > len(stations)  # the demo spells its 4 scanners many ways
    studies = list(report_studies(Warehouse(site.warehouse_url)))
    per_device = collections.Counter(s.device for s in studies)
    truth = collections.Counter(s["device"]["station_name_canonical"] for s in _ct_studies(site))
    assert per_device == truth
    result = dg.materialize([drl_audit], resources=site.resources())
    assert result.success
    with engine.connect() as con:
        rows = con.execute(sa.text("SELECT device, device_labels, n_studies FROM drl_audit_row")).all()
    assert {r.device for r in rows} <= stations
    assert sum(r.device_labels for r in rows) > len({r.device for r in rows})  # labels were merged
    meta = result.asset_materializations_for_node("drl_audit")[0].metadata
    assert meta["devices"].value == len({r.device for r in rows})


def test_audit_periods_are_source_calendar_periods(lake: tuple[LakeSite, dg.DagsterInstance]) -> None:
    site, _ = lake
    engine = sa.create_engine(site.warehouse_url)
    # The corpus is laid out without de-identification: shift each patient's dates as it would, by a
    # per-patient number of days (up to a year), so that the shifted dates scatter over many months.
    with engine.begin() as con:
        con.execute(
            sa.text(
                "UPDATE study_dose SET study_date = "
                "date(study_date, '-' || ((unicode(substr(patient_pseudonym, -2)) * 37) % 365) || ' days')"
            )
        )
        shifted = {r[0] for r in con.execute(sa.text("SELECT study_date FROM study_dose"))}
    assert len({str(d)[:7] for d in shifted}) > 3
    assert dg.materialize([drl_audit], resources=site.resources()).success
    with engine.connect() as con:
        periods = {r[0] for r in con.execute(sa.text("SELECT DISTINCT period FROM drl_audit_row"))}
    assert periods == {"2026-11"}  # the demo week is one source month
    studies = list(report_studies(Warehouse(site.warehouse_url)))
    assert {s.source_date for s in studies} == set(site.partitions)
    weeks = {period_of(s.source_date, "week") for s in studies}
    assert weeks == {dt.date.fromisoformat(p).strftime("%G-W%V") for p in site.partitions}


def test_exceeding_table_local_drls_and_nearest_patients(lake: tuple[LakeSite, dg.DagsterInstance]) -> None:
    site, _ = lake
    result = dg.materialize([drl_audit, local_drl, patient_cumulative_dose], resources=site.resources())
    assert result.success
    audit_meta = result.asset_materializations_for_node("drl_audit")[0].metadata
    table = audit_meta["exceeding_examinations_table"].value
    assert audit_meta["exceeding_examinations"].value > 0  # the demo corpus has examinations above the DRL
    assert table.startswith("| Study (pseudonymised UID) | Examination | Device |")
    lines = [line for line in table.splitlines() if line.startswith("| ") and "Study" not in line]
    assert len(lines) == min(25, audit_meta["exceeding_examinations"].value)
    local_meta = result.asset_materializations_for_node("local_drl")[0].metadata
    csv_path = Path(local_meta["adoptable_csv"].value)
    assert csv_path.is_file() and csv_path.read_text().startswith("# drl_set: local_icrp135")
    nearest = result.asset_materializations_for_node("patient_cumulative_dose")[0].metadata
    assert "| Patient (pseudonym) |" in nearest["nearest_threshold"].value


def test_dose_metadata_shows_distributions(lake: tuple[LakeSite, dg.DagsterInstance]) -> None:
    site, instance = lake
    event = instance.get_latest_materialization_event(dg.AssetKey("study_dose"))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    values = meta["distribution_values"].value
    dlp = values["DLP total per study (mGy cm)"]
    assert dlp["q1"] <= dlp["median"] <= dlp["q3"] <= dlp["max"]
    assert "| DLP total per study (mGy cm) |" in meta["distribution"].value
    engine = sa.create_engine(site.warehouse_url)
    last = site.partitions[-1]
    with engine.connect() as con:
        top = con.execute(
            sa.text("SELECT max(dlp_total_mgycm) FROM study_dose WHERE partition_key = :pk"), {"pk": last}
        ).scalar()
    assert dlp["max"] == pytest.approx(top, abs=1e-3)  # the latest materialisation is the last partition


def test_checks_are_recorded_with_their_partition(lake: tuple[LakeSite, dg.DagsterInstance]) -> None:
    site, _ = lake
    instance = dg.DagsterInstance.ephemeral()
    for key in site.partitions[:2]:
        result = dg.materialize(
            [curated_instances, curated_field_completeness],
            resources=site.resources(),
            partition_key=key,
            instance=instance,
        )
        assert result.success
    check = dg.AssetCheckKey(dg.AssetKey("curated_instances"), "curated_field_completeness")
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    partitions = {
        r.event.dagster_event.event_specific_data.partition  # type: ignore[union-attr]
        for r in records
        if r.event and r.event.dagster_event
    }
    assert partitions == set(site.partitions[:2])
    # An honest demo partition does not warn: every axial/helical image carries its CTDIvol.
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    fields = evaluations[0].metadata["field_completeness"].value
    assert fields["ct_acquisition.ctdivol_mgy[axial/helical]"] == 1.0
    assert fields["ct_acquisition.ctdivol_mgy"] < 1.0  # localisers carry none, and are not counted
