"""The projection dose engine on real files (openrem wheel), on SQLite and PostgreSQL: de-duplication,
links by Irradiation Event UID, per-study totals aggregated in SQL, and the fluoroscopy cumulative alert
(expected values from OpenREM's ``test_rf_high_dose_alert.py`` for the two Siemens Zee studies)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.sequence import Sequence

from resources.dose.fluoro_cumulative import alert_markdown, cumulative_rows
from resources.dose.projection_dedup import deduplicate_projection_study
from resources.dose.projection_events import analyse_projection_files
from resources.dose.projection_study import projection_study_rows
from resources.dose.rdsr.projection_codes import AcquisitionPlane
from resources.dose.rdsr.projection_radiation_dose import read_dataset, read_projection_radiation_dose
from resources.dose.table_rows import table_rows
from resources.warehouse import projection_tables as tables
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from tests.warehouse.backends import BACKENDS
from tests.warehouse.backends import make_warehouse as make_warehouse  # the fixture, re-exported

pytestmark = pytest.mark.openrem

ZEE, ZEE_ADJUSTED = "RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-Siemens-Zee_adjusted.dcm"
CARESTREAM = "DX-RDSR-Carestream_DRXEvolution.dcm"


def test_cumulative_report_and_its_first_half_deduplicate(openrem_test_files: Path) -> None:
    """A cumulative report after a partial one (same study, overlapping events), and a resend."""
    full = read_projection_radiation_dose(openrem_test_files / "RF-RDSR-Canon-Alphenix-rotational.dcm")
    ds = pydicom.dcmread(openrem_test_files / "RF-RDSR-Canon-Alphenix-rotational.dcm")
    items = list(ds.ContentSequence)
    events = [i for i, c in enumerate(items) if c.ConceptNameCodeSequence[0].CodeValue == "113706"]
    ds.ContentSequence = Sequence(items[: events[20]])
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    partial = read_dataset(ds, "first-part")
    assert len(partial.events) == 20
    study = deduplicate_projection_study(full.study_instance_uid, [partial, full, full])
    assert study.duplicate_reports == 1
    assert study.duplicate_events == 20
    assert len(study.events) == len(full.events) == 49
    assert all(u.report is full for u in study.events)
    (single,) = study.planes
    assert single.plane is AcquisitionPlane.SINGLE
    assert single.dap_total_gym2 == pytest.approx(full.dap_total_from_events())
    assert single.dap_total_reported_gym2 == pytest.approx(full.accumulated[0].dose_area_product_total_gym2)
    assert single.dap_matches is True and single.dose_rp_matches is True


def test_a_changed_dose_in_a_resent_event_is_flagged(openrem_test_files: Path) -> None:
    ds = pydicom.dcmread(openrem_test_files / ZEE)
    original = read_dataset(ds, "original")
    event = next(c for c in ds.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113706")
    dap = next(c for c in event.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "122130")
    dap.MeasuredValueSequence[0].NumericValue = "0.5"
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    study = deduplicate_projection_study(original.study_instance_uid, [original, read_dataset(ds, "changed")])
    assert "same_event_uid_different_dose" in study.flags


def test_modality_of_the_dual_modality_pair(openrem_test_files: Path) -> None:
    """test_import_dual_rdsr.py: one Siemens room sends a DX and an RF report (Modality SR in both)."""
    analysis = analyse_projection_files(
        [openrem_test_files / "Dual-RDSR-DX.dcm", openrem_test_files / "Dual-RDSR-RF.dcm"]
    )
    by_kind = {c.modality: c for c in analysis.contexts}
    assert set(by_kind) == {"DX", "RF"}
    assert by_kind["RF"].is_fluoroscopy and not by_kind["DX"].is_fluoroscopy
    assert all("modality_inferred" in c.flags for c in analysis.contexts)
    assert by_kind["DX"].device == by_kind["RF"].device  # one room: one device label


def _partition(openrem_test_files: Path, folder: Path) -> list[Path]:
    """Real reports, plus a real DX image given the study and one event UID of the Carestream report."""
    names = [ZEE, "RF-RDSR-GE.dcm", "MG-RDSR-Hologic_2D.dcm", CARESTREAM, "CT-RDSR-Siemens-Multi-1.dcm"]
    paths = []
    for name in names:
        shutil.copy(openrem_test_files / name, folder / name)
        paths.append(folder / name)
    report = read_projection_radiation_dose(openrem_test_files / CARESTREAM)
    image = pydicom.dcmread(openrem_test_files / "DX-Im-Carestream_DRX.dcm")
    image.StudyInstanceUID = report.study_instance_uid
    image.IrradiationEventUID = report.events[2].irradiation_event_uid
    image.save_as(folder / "image.dcm")
    paths.append(folder / "image.dcm")
    (folder / "broken.dcm").write_bytes(b"not dicom at all")
    paths.append(folder / "broken.dcm")
    return sorted(paths)


def _write(warehouse: Warehouse, partition: str, paths: list[Path]) -> None:
    analysis = analyse_projection_files(paths)
    warehouse.replace_partition(
        Lineage(partition, "test"),
        {
            tables.ProjectionDoseEvent: table_rows(tables.ProjectionDoseEvent, analysis.events),
            tables.ProjectionAccumulatedDose: table_rows(
                tables.ProjectionAccumulatedDose, analysis.accumulated
            ),
            tables.ProjectionEventLink: table_rows(tables.ProjectionEventLink, analysis.links),
            tables.ProjectionStudyContext: table_rows(tables.ProjectionStudyContext, analysis.contexts),
        },
    )
    rows = projection_study_rows(warehouse, partition)
    warehouse.replace_partition(
        Lineage(partition, "test"), {tables.ProjectionStudyDose: table_rows(tables.ProjectionStudyDose, rows)}
    )


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_partition_rows_links_and_study_totals(
    make_warehouse: Warehouse, openrem_test_files: Path, tmp_path: Path
) -> None:
    warehouse = make_warehouse
    warehouse.upgrade()
    paths = _partition(openrem_test_files, tmp_path)
    analysis = analyse_projection_files(paths)
    assert analysis.projection_reports == 4
    assert [name for name, _ in analysis.unreadable] == ["broken.dcm"]
    assert len(analysis.events) == 8 + 8 + 2 + 5
    carestream = read_projection_radiation_dose(openrem_test_files / CARESTREAM)
    (link,) = analysis.links
    assert link.irradiation_event_uid == carestream.events[2].irradiation_event_uid
    assert link.study_instance_uid == carestream.study_instance_uid and link.modality == "CR"
    _write(warehouse, "2016-05-12", paths)
    studies = {r.study_instance_uid: r for r in projection_study_rows(warehouse, "2016-05-12")}
    assert len(studies) == 4
    zee = studies[read_projection_radiation_dose(openrem_test_files / ZEE).study_instance_uid]
    assert zee.is_fluoroscopy and zee.n_events == 8
    assert zee.dap_total_gym2 == pytest.approx(0.000016, abs=1e-9)
    assert zee.dose_rp_total_reported_a_gy == pytest.approx(0.00252)
    assert zee.totals_match is True
    dx = studies[carestream.study_instance_uid]
    assert (dx.is_fluoroscopy, dx.n_events_linked, dx.report_kind) == (False, 1, "projection_xray")
    assert dx.dap_total_gym2 == pytest.approx(carestream.dap_total_from_events())
    mg = next(r for r in studies.values() if r.report_kind == "mammography")
    assert (mg.agd_left_mgy, mg.agd_right_mgy) == pytest.approx((1.30, 1.28))
    assert (mg.agd_left_reported_mgy, mg.agd_right_reported_mgy) == pytest.approx((1.30, 1.28))
    stored = warehouse.read_frame("SELECT COUNT(*) AS n FROM projection_accumulated_dose")
    assert int(stored["n"].iloc[0]) == 4


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_fluoroscopy_cumulative_over_the_window(
    make_warehouse: Warehouse, openrem_test_files: Path, tmp_path: Path
) -> None:
    """OpenREM's high-dose alert test: the Zee study of 2016-05-10 and its copy of 2016-05-12, one patient."""
    warehouse = make_warehouse
    warehouse.upgrade()
    for name, day in ((ZEE_ADJUSTED, "2016-05-10"), (ZEE, "2016-05-12")):
        folder = tmp_path / day
        folder.mkdir()
        shutil.copy(openrem_test_files / name, folder / name)
        _write(warehouse, day, [folder / name])
    rows = cumulative_rows(warehouse, 12, dap_alert_cgycm2=20.0, dose_rp_alert_gy=2.0)
    first, second = rows
    assert (first.n_studies_in_window, second.n_studies_in_window) == (1, 2)
    # OpenREM: 16.0 then 32.0 cGy.cm2 (0.000016 Gy.m2 each), 0.00252 then 0.00504 Gy.
    assert first.dap_cumulative_gym2 * 1e6 == pytest.approx(16.0, abs=0.05)
    assert second.dap_cumulative_gym2 * 1e6 == pytest.approx(32.0, abs=0.05)
    assert second.dose_rp_cumulative_a_gy == pytest.approx(0.00498, abs=1e-4)  # the events' own sum
    assert (first.dap_alert, second.dap_alert) == (False, True)
    assert not first.dose_rp_alert and not second.dose_rp_alert
    # OpenREM sums the reports' stated 0.00252 Gy; we sum the unique events (0.00249 Gy each, as rounded).
    # The default thresholds raise no alert; a window of no days leaves the earlier study out.
    defaults = cumulative_rows(warehouse, 12, dap_alert_cgycm2=20000.0, dose_rp_alert_gy=2.0)
    assert not any(r.dap_alert or r.dose_rp_alert for r in defaults)
    assert [r.n_studies_in_window for r in cumulative_rows(warehouse, 0, 20.0, 2.0)] == [1, 1]
    warehouse.replace_partition(
        Lineage("all", "test"),
        {tables.FluoroscopyCumulativeDose: table_rows(tables.FluoroscopyCumulativeDose, rows)},
    )
    in_alert, markdown = alert_markdown(warehouse)
    assert in_alert == 1
    assert second.patient_pseudonym in markdown and "| yes |" in markdown
