"""The projection (radiography, fluoroscopy) DRL audit on the projection dose tables: median DAP per exam,
canonical device and source period; against DAP levels when a set has them, medians only otherwise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resources.dose.audit_inputs import report_studies
from resources.dose.drl import DrlMapping, load_drl_csv
from resources.dose.projection_audit import projection_audit, projection_markdown, projection_studies
from resources.warehouse.dose_tables import StudyDose
from resources.warehouse.lineage import Lineage
from resources.warehouse.projection_tables import ProjectionStudyDose
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import Device, Series, Study
from tests.warehouse.backends import BACKENDS, make_warehouse

__all__ = ["make_warehouse"]  # the fixture, used through the parameter of the same name

DAYS = ("2026-03-02", "2026-03-03")


def _warehouse(warehouse: Warehouse) -> Warehouse:
    warehouse.upgrade()
    # Room DR1 writes its manufacturer two ways (two device keys, one canonical station).
    studies = {
        DAYS[0]: [
            ("s1", "Chest PA", "k1", 0.8e-5),
            ("s2", "XR CHEST PA", "k2", 1.2e-5),
            ("s3", "Barium swallow", "k1", 9e-4),
        ],
        DAYS[1]: [
            ("s4", "chest pa", "k2", 3.0e-5),
            ("s5", "Knee lateral", "k1", 1e-5),
            ("s6", "Mammo", "k1", 1e-5),
        ],
    }
    for day, rows in studies.items():
        warehouse.replace_partition(
            Lineage(day, "test"),
            {
                Study: [{"study_instance_uid": uid, "study_description": name} for uid, name, _, _ in rows],
                Series: [
                    {
                        "series_instance_uid": f"{uid}.1",
                        "study_instance_uid": uid,
                        "device_key": key,
                        "modality": "DX",
                    }
                    for uid, _, key, _ in rows
                ],
                Device: [
                    {"device_key": "k1", "station_canonical": "DR1", "manufacturer": "ACME"},
                    {"device_key": "k2", "station_canonical": "DR1", "manufacturer": "Acme Medical"},
                ],
                ProjectionStudyDose: [
                    {
                        "study_instance_uid": uid,
                        "device": f"label {key}",
                        "modality": "DX",
                        "report_kind": "mammography" if name == "Mammo" else "projection_xray",
                        "dap_total_gym2": dap,
                    }
                    for uid, name, key, dap in rows
                ],
            },
        )
    return warehouse


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_median_dap_per_exam_and_canonical_device(make_warehouse: Warehouse, tmp_path: Path) -> None:
    studies = list(projection_studies(_warehouse(make_warehouse), DrlMapping.load()))
    assert {s.study_instance_uid for s in studies} == {"s1", "s2", "s3", "s4", "s5"}  # mammography left out
    assert {s.device for s in studies} == {"DR1"}
    dap = tmp_path / "dap.csv"  # a site's DAP levels (made-up values for the test)
    dap.write_text("category,ctdivol_mgy,dlp_mgycm,dap_gycm2\nxr_chest_pa,,,0.15\n")
    result = projection_audit(studies, load_drl_csv(dap), "month")
    by_category = {r.category: r for r in result.rows}
    chest = by_category["xr_chest_pa"]
    # DAP Gy.m2 -> Gy.cm2: 0.08, 0.12, 0.30; median 0.12 under 0.15; one exam above.
    assert (chest.device, chest.period, chest.n_studies, chest.device_labels) == ("DR1", "2026-03", 3, 2)
    assert abs(chest.median_dap_gycm2 - 0.12) < 1e-9 and chest.median_exceeds is False  # type: ignore[operator]
    assert [uid for uid, _, _ in result.exceeding] == ["s4"]
    assert by_category["fl_barium_swallow"].drl_dap_gycm2 is None  # no level: median only
    assert result.unmapped == {"Knee lateral": 1}
    table = projection_markdown(result)
    assert "| Chest PA | DR1 | 2026-03 | 3 | 0.12 | 0.15 |" in table.replace("xr_chest_pa", "Chest PA")
    assert "| s4 |" in table


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_without_a_dap_set_medians_only(make_warehouse: Warehouse) -> None:
    result = projection_audit(projection_studies(_warehouse(make_warehouse), DrlMapping.load()), None, "week")
    assert result.rows and all(r.drl_dap_gycm2 is None and r.median_exceeds is None for r in result.rows)
    assert {r.period for r in result.rows} == {"2026-W10"}
    assert not result.exceeding


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_ct_report_studies_carry_source_date_and_canonical_device(make_warehouse: Warehouse) -> None:
    warehouse = _warehouse(make_warehouse)
    warehouse.replace_partition(
        Lineage(DAYS[0], "test"),
        {
            # The study's CT series, from the curated device k1 (station DR1 in this test's device table).
            Series: [
                {
                    "series_instance_uid": "ct1",
                    "study_instance_uid": "s1",
                    "device_key": "k1",
                    "modality": "CT",
                }
            ],
            StudyDose: [
                {
                    "study_instance_uid": uid,
                    "origin": "rdsr",
                    "n_events": 1,
                    "n_events_with_dose": 1,
                    "device": label,
                    "study_date": dt.date(2025, 7, 1),  # shifted: the source date is the partition's
                    "dlp_total_mgycm": 100.0,
                }
                for uid, label in (("s1", "ACME label"), ("sx", "no curated series"))
            ],
        },
    )
    studies = {s.study_instance_uid: s for s in report_studies(warehouse)}
    assert (studies["s1"].source_date, studies["s1"].device, studies["s1"].device_label) == (
        DAYS[0],
        "DR1",
        "ACME label",
    )
    assert studies["sx"].device == "no curated series"  # no curated station: the report's label
