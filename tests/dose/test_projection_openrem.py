"""The projection X-ray dose SR reader (TID 10001) on real vendor files (the openrem 1.0.0b3 wheel).

Expected values are those OpenREM's own tests assert for the same files, in the same wheel
(``openrem/remapp/tests/test_import_rf_rdsr.py``, ``test_import_dx_rdsr.py``, ``test_import_mg_rdsr.py``,
``test_rf_high_dose_alert.py``): module and test named per case. OpenREM stores what the file states;
we state every value in one unit per quantity (DAP Gy.m2, dose at RP Gy, exposure time ms, AGD mGy).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from resources.dose.rdsr.document import DoseReportKind
from resources.dose.rdsr.projection_codes import AcquisitionPlane, IrradiationEventType, Laterality
from resources.dose.rdsr.projection_radiation_dose import (
    NotAProjectionDoseReportError,
    ProjectionXRayRadiationDose,
    read_projection_radiation_dose,
)

pytestmark = pytest.mark.openrem

SINGLE = AcquisitionPlane.SINGLE
# Every projection dose SR of the wheel (RF, DX, MG and the dual-modality pair), by name pattern.
PROJECTION_PATTERNS = (
    "RF-RDSR-*.dcm",
    "DX-RDSR-*.dcm",
    "MG-RDSR-*.dcm",
    "Dual-RDSR-*.dcm",
    "RF-No-*.dcm",
    "RF-Pat-*.dcm",
)


def projection_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in PROJECTION_PATTERNS for p in folder.glob(pattern)})


def read(folder: Path, name: str) -> ProjectionXRayRadiationDose:
    return read_projection_radiation_dose(folder / name)


def test_every_projection_file_is_read(openrem_test_files: Path) -> None:
    files = projection_files(openrem_test_files)
    assert len(files) == 21
    reports = [read_projection_radiation_dose(p) for p in files]
    assert sum(len(r.events) for r in reports) == 580
    assert all(r.events and not r.partial for r in reports)
    assert {r.kind for r in reports} == {DoseReportKind.PROJECTION_XRAY, DoseReportKind.MAMMOGRAPHY}
    assert all(e.irradiation_event_uid for r in reports for e in r.events)


def _rounding(value: float | None) -> float:
    """Half a unit of the last stated digit, as a tolerance for a reported total of rounded events."""
    if value in (None, 0.0):
        return 1e-12
    return 10 ** (math.floor(math.log10(abs(value))) - 3)


def test_totals_from_events_agree_with_the_reports_own(openrem_test_files: Path) -> None:
    """Per plane, the events' DAP / dose at RP sum to the stated totals within the events' rounding."""
    compared = 0
    for path in projection_files(openrem_test_files):
        report = read_projection_radiation_dose(path)
        for plane in report.planes:
            totals = report.accumulated_for(plane)
            events = report.events_in(plane)
            if totals is None or totals.dose_area_product_total_gym2 is None:
                continue
            # Each event is rounded to the file's last digit (1e-6 Gy.m2 on Eurocolumbus).
            tolerance = max(0.02 * totals.dose_area_product_total_gym2, (len(events) + 1) * 0.5e-6)
            assert report.dap_total_from_events(plane) == pytest.approx(
                totals.dose_area_product_total_gym2, abs=tolerance
            ), path.name
            compared += 1
        for side in (Laterality.LEFT, Laterality.RIGHT):
            stated = report.accumulated[0].agd_mgy(side) if report.accumulated else None
            if stated is not None:
                assert report.agd_total_from_events(side) == pytest.approx(stated, abs=0.011), path.name
                compared += 1
    assert compared >= 25


def test_ge_c_arm(openrem_test_files: Path) -> None:
    # test_import_rf_rdsr.py::ImportRFRDSRGESurgical::test_ge_c_arm_rdsr
    report = read(openrem_test_files, "RF-RDSR-GE.dcm")
    assert report.device_observer.uid == "1.3.6.1.4.1.45593.912345678.9876543123"
    totals = report.accumulated_for(SINGLE)
    assert totals is not None
    assert totals.fluoro_dose_area_product_total_gym2 == pytest.approx(0.00024126)
    assert totals.fluoro_dose_rp_total_gy == pytest.approx(0.01173170)
    assert totals.acquisition_dose_area_product_total_gym2 == 0
    assert totals.acquisition_dose_rp_total_gy == 0
    assert len(report.events) == 8
    event = report.events[3]
    assert event.datetime_started == dt.datetime(2019, 3, 16, 13, 27, 25)
    assert event.reference_point_definition == "30cm in Front of Image input surface"
    assert event.irradiation_event_uid == "1.3.6.1.4.1.5962.99.1.3577657414.286912992.1554060884038.8.0"
    assert event.dose_area_product_gym2 == pytest.approx(0.00004334)
    assert event.dose_rp_gy == pytest.approx(0.00210763)
    assert event.collimated_field_area_m2 == pytest.approx(0.041968)
    assert event.average_tube_current_ma == pytest.approx(18.90340042)
    assert event.grid == "Fixed Grid"
    assert report.events[0].event_type is IrradiationEventType.FLUOROSCOPY
    assert report.events[0].exposure_time_ms == pytest.approx(7333.0)
    assert report.events[0].irradiation_duration_s == pytest.approx(7.62599993)
    assert report.events[0].filters[0].thickness_maximum_mm == pytest.approx(7.2)


def test_ge_oec_mini_view_without_declared_template(openrem_test_files: Path) -> None:
    # test_import_rf_rdsr.py::ImportRFRDSRGEOECMiniView::test_ge_mini_view_rdsr
    report = read(openrem_test_files, "RF-RDSR-GE-OECEliteMiniView.dcm")
    assert report.kind is DoseReportKind.PROJECTION_XRAY
    totals = report.accumulated[0]
    assert totals.fluoro_dose_area_product_total_gym2 == pytest.approx(0.0000013316568)
    assert totals.fluoro_dose_rp_total_gy == pytest.approx(0.00022034578)
    assert totals.acquisition_dose_area_product_total_gym2 == 0
    assert totals.acquisition_dose_rp_total_gy == 0


def test_siemens_zee(openrem_test_files: Path) -> None:
    # test_import_rf_rdsr.py::ImportRFRDSRSiemens::test_comment_xml_extraction (summary fields)
    report = read(openrem_test_files, "RF-RDSR-Siemens-Zee.dcm")
    assert report.accumulated[0].dose_area_product_total_gym2 == pytest.approx(0.000016)
    assert report.accumulated[0].dose_rp_total_gy == pytest.approx(0.00252)
    assert len(report.events) == 8
    assert report.planes == (SINGLE,)


def test_philips_azurion_fluoro_total(openrem_test_files: Path) -> None:
    # test_import_rf_rdsr.py::ImportRFRDSRPhilipsAzurion (disabled there for speed; read here in full)
    report = read(openrem_test_files, "RF-RDSR-Philips_Azurion.dcm")
    assert report.accumulated[0].fluoro_dose_area_product_total_gym2 == pytest.approx(0.00101567)
    assert len(report.events) == 89


def test_canon_ultimax_dose_at_rp_in_mgy(openrem_test_files: Path) -> None:
    # test_import_rf_rdsr.py::ImportRFRDSRCanonUltimaxi::test_canon_ultimax_i_rdsr
    report = read(openrem_test_files, "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm")
    totals = report.accumulated[0]
    assert totals.fluoro_dose_rp_total_gy == pytest.approx(0.025664)
    assert totals.acquisition_dose_rp_total_gy == pytest.approx(0.004909)
    assert totals.dose_rp_total_gy == pytest.approx(0.030573)
    assert report.events[0].dose_rp_gy == pytest.approx(0.000384)
    assert "dose_rp_in_mgy:dose_rp" in report.events[0].flags
    assert "dose_rp_in_mgy:accumulated_dose_rp_total" in report.flags
    # DAP in dGy.cm2 (DAPUnitsTest::test_dgycm2): 1 dGy.cm2 = 1e-5 Gy.m2.
    assert "nonstandard_unit:dose_area_product:dGy.cm2" in report.events[0].flags


def test_canon_cxdi_radiography(openrem_test_files: Path) -> None:
    # test_import_dx_rdsr.py::ImportDXRDSR::test_import_dx_rdsr_canon
    report = read(openrem_test_files, "DX-RDSR-Canon_CXDI.dcm")
    event = report.events[0]
    assert event.dose_area_product_gym2 == pytest.approx(0.0000107)
    assert event.acquisition_plane is SINGLE
    assert event.datetime_started == dt.datetime(2016, 8, 18, 19, 26, 17, 43000)
    assert event.event_type is IrradiationEventType.STATIONARY
    assert event.acquisition_protocol == "THORAX AP 90kv-0,9mAs"
    assert event.target_region_meaning == "Chest"
    totals = report.accumulated[0]
    assert totals.acquisition_dose_area_product_total_gym2 == pytest.approx(0.0000107)
    assert totals.total_acquisition_time_s == pytest.approx(0.005)
    assert (event.number_of_pulses, event.kvp, event.tube_current_ma) == (1, 90, 160)
    assert (event.exposure_uas, event.exposure_time_ms, event.focal_spot_size_mm) == (800, 5, 10)
    assert report.study_time == dt.time(19, 25, 1, 650000)


def test_carestream_drx_evolution(openrem_test_files: Path) -> None:
    # test_import_dx_rdsr.py::ImportDXRDSR::test_import_dx_rdsr_carestream
    report = read(openrem_test_files, "DX-RDSR-Carestream_DRXEvolution.dcm")
    totals = report.accumulated[0]
    assert totals.dose_rp_total_gy == pytest.approx(0.00029927175492)
    assert totals.total_number_of_radiographic_frames == 5
    assert totals.reference_point_definition == "In Detector Plane"
    first = report.events[0]
    assert first.datetime_started == dt.datetime(2016, 3, 9, 17, 3, 17, 534000)
    assert first.acquisition_protocol == "Thigh Right"
    assert first.anatomical_structure_meaning == "Hip joint"
    assert first.reference_point_definition == "In Detector Plane"
    expected = [  # DAP, EI, TEI, DI, dose RP, kVp, mA, time, exposure
        (0.00000082000002, 662.18, 226.22, 4.66, 0.00005694444407, 48, 250, 18, 4500),
        (0.00000093000002, 583.08, 226.22, 4.11, 0.00005812500021, 48, 250, 18, 4500),
        (0.00000057, 663.54, 226.22, 4.67, 0.000064772728, 48, 250, 20, 5000),
        (0.00000116999998, 684.78, 226.22, 4.81, 0.00006256684428, 49, 250, 18, 4500),
    ]
    for event, values in zip(report.events, expected, strict=False):
        ours = (
            event.dose_area_product_gym2,
            event.exposure_index,
            event.target_exposure_index,
            event.deviation_index,
            event.dose_rp_gy,
            event.kvp,
            event.tube_current_ma,
            event.exposure_time_ms,
            event.exposure_uas,
        )
        assert ours == pytest.approx(values)
    assert report.events[3].number_of_pulses == 1


def test_hologic_2d_mammography(openrem_test_files: Path) -> None:
    # test_import_mg_rdsr.py::ImportMGRDSR::test_import_mg_rdsr_hologic
    report = read(openrem_test_files, "MG-RDSR-Hologic_2D.dcm")
    assert report.kind is DoseReportKind.MAMMOGRAPHY
    totals = report.accumulated[0]
    assert [a.laterality for a in totals.accumulated_average_glandular_dose] == [
        Laterality.LEFT,
        Laterality.RIGHT,
    ]
    assert totals.agd_mgy(Laterality.LEFT) == pytest.approx(1.30)
    assert totals.agd_mgy(Laterality.RIGHT) == pytest.approx(1.28)
    left, right = report.events
    assert (left.average_glandular_dose_mgy, right.average_glandular_dose_mgy) == pytest.approx((1.3, 1.28))
    assert (left.entrance_exposure_at_rp_mgy, right.entrance_exposure_at_rp_mgy) == pytest.approx(
        (3.65, 3.60)
    )
    assert left.half_value_layer_mm == right.half_value_layer_mm == pytest.approx(0.535)
    assert left.event_type is IrradiationEventType.STATIONARY
    assert left.datetime_started == dt.datetime(2015, 3, 22, 12, 47, 45)
    assert left.view == "CC" and left.target_region_meaning == "Breast"
    assert left.reference_point_definition == "Entrance exposure to a 4.2 cm breast thickness"
    assert (left.laterality, right.laterality) == (Laterality.LEFT, Laterality.RIGHT)
    assert (left.kvp, left.tube_current_ma, left.exposure_time_ms) == (28, 100, 854)
    assert (right.exposure_time_ms, left.exposure_uas, right.exposure_uas) == (840, 90200, 88800)
    assert left.focal_spot_size_mm == pytest.approx(0.3)
    assert (left.filters[0].thickness_minimum_mm, left.filters[0].thickness_maximum_mm) == (0.05, 0.05)
    assert left.filters[0].material_meaning == "Rhodium or Rhodium compound"
    assert left.anode_target_material_meaning == "Tungsten or Tungsten compound"
    assert (left.compression_thickness_mm, left.distance_source_to_detector_mm) == (43, 700)
    assert left.positioner_primary_angle_deg == 0


@pytest.mark.parametrize(
    "name",
    [
        "MG-RDSR-GEPristina-2D.dcm",
        "MG-RDSR-GEPristina-DBT.dcm",
        "MG-RDSR-Giotto-DBT.dcm",
        "MG-RDSR-Hologic_mix.dcm",
    ],
)
def test_other_mammography_reports_carry_breast_data(openrem_test_files: Path, name: str) -> None:
    report = read(openrem_test_files, name)
    assert report.kind is DoseReportKind.MAMMOGRAPHY
    for event in report.events:
        # Hologic's mixed study states 0 mGy for its stationary exposures: read as stated, not dropped.
        assert event.average_glandular_dose_mgy is not None and event.average_glandular_dose_mgy >= 0
        assert event.compression_thickness_mm and 10 < event.compression_thickness_mm < 150
        assert event.laterality in (Laterality.LEFT, Laterality.RIGHT)
        assert event.half_value_layer_mm is not None and event.half_value_layer_mm < 1.0


def test_dual_modality_pair_is_two_projection_reports(openrem_test_files: Path) -> None:
    # test_import_dual_rdsr.py: a radiography and a fluoroscopy RDSR from one Siemens room
    dx = read(openrem_test_files, "Dual-RDSR-DX.dcm")
    rf = read(openrem_test_files, "Dual-RDSR-RF.dcm")
    assert dx.device_observer.uid == rf.device_observer.uid
    assert [e.event_type for e in dx.events] == [IrradiationEventType.STATIONARY]
    assert IrradiationEventType.FLUOROSCOPY in {e.event_type for e in rf.events}


def test_ct_and_other_files_are_turned_away(openrem_test_files: Path) -> None:
    with pytest.raises(NotAProjectionDoseReportError) as ct:
        read(openrem_test_files, "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    assert ct.value.document_type == "ct_dose_sr"
    with pytest.raises(NotAProjectionDoseReportError) as image:
        read(openrem_test_files, "DX-Im-Carestream_DRX.dcm")
    assert image.value.document_type == "not_sr"
    # Siemens' Varic "Radiation Summary Report" is a private Enhanced SR template, not TID 10001.
    with pytest.raises(NotAProjectionDoseReportError) as varic:
        read(openrem_test_files, "RF-ESR-Siemens-Varic.dcm")
    assert varic.value.document_type == "sr_without_dose_template"
