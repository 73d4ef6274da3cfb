"""The CT dose SR reader on real vendor files (the openrem 1.0.0b3 wheel, GPL: fetched at test time).

Expected values are the ones OpenREM's own tests assert for the same files, in the same wheel
(``openrem/remapp/tests/test_import_ct_*.py``): module and test named per case below. Values are
compared to the decimal they are stated with. Where we deliberately differ from OpenREM, the test says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.dose.codes import AcquisitionType, Code, Phantom
from resources.dose.dedup import deduplicate_study
from resources.dose.errors import NotADoseReportError
from resources.dose.rdsr.content_tree import CHARSET_MISMATCH_FLAG
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose, read_ct_radiation_dose

pytestmark = pytest.mark.openrem

CA = AcquisitionType.CONSTANT_ANGLE
SP = AcquisitionType.SPIRAL
ST = AcquisitionType.STATIONARY
SQ = AcquisitionType.SEQUENCED


def read(folder: Path, name: str) -> CTRadiationDose:
    return read_ct_radiation_dose(folder / name)


def test_siemens_flash_tap_single_source(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_siemens.py::test_import_ct_rdsr_siemens
    report = read(openrem_test_files, "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    assert report.document_type == "xray_radiation_dose_sr"
    assert report.accumulated.total_number_of_events == 4
    assert report.accumulated.dlp_total_mgycm == pytest.approx(724.52, abs=0.005)
    assert [e.acquisition_type for e in report.events] == [CA, ST, ST, SP]
    assert [e.scanning_length_mm for e in report.events] == [821, 10, 10, 737]
    assert [e.ctdivol_mgy for e in report.events] == pytest.approx([0.14, 1.2, 3.61, 9.91], abs=0.005)
    assert [e.dlp_mgycm for e in report.events] == pytest.approx([11.51, 1.2, 3.61, 708.2], abs=0.005)
    assert [e.exposure_time_s for e in report.events] == pytest.approx([8.37, 0.5, 1.5, 16.01])
    assert [e.nominal_total_collimation_mm for e in report.events] == pytest.approx([3.6, 10, 10, 38.4])
    assert report.events[3].pitch_factor == pytest.approx(0.6)
    assert [e.number_of_xray_sources for e in report.events] == [1, 1, 1, 1]
    assert report.device_observer.serial_number == "00001"
    assert report.device_observer.name == "CTAWP00001"
    assert report.device_observer.manufacturer == "SIEMENS"
    assert report.device_observer.model_name == "SOMATOM Definition Flash"
    assert report.patient_age == "067Y"
    # OpenREM asserts the latin-1 reading "test\xc3\xa6\xc3\xb8\xc3\xa5"; the bytes are UTF-8 in a file
    # that declares ISO_IR 100 (a lying character set): we decode UTF-8 and flag it.
    assert report.events[0].acquisition_protocol == "testæøå"
    assert CHARSET_MISMATCH_FLAG in report.flags
    assert report.events[0].target_region == Code("T-D0010", "SRT")  # "Entire body"
    assert report.dlp_total_from_events == pytest.approx(724.52, abs=0.005)


def test_siemens_flash_dual_source_has_two_tubes(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_siemens.py::test_import_ct_rdsr_siemens_dual_source (file); two X-ray source
    # containers per event are the dual-source quirk (REFERENCE.md section 3).
    report = read(openrem_test_files, "CT-RDSR-Siemens_Flash-QA-DS.dcm")
    assert report.accumulated.total_number_of_events == 9
    first = report.events[0]
    assert first.number_of_xray_sources == 2
    assert [(s.source_id, s.kvp, s.tube_current_ma) for s in first.sources] == [
        ("A", 100, 399),
        ("B", 140, 308),
    ]
    assert all(len(e.sources) == 2 for e in report.events)


def test_ge_enhanced_sr_optima_and_vct(openrem_test_files: Path) -> None:
    # test_import_ct_esr_ge.py::test_import_ct_esr_ge
    optima = read(openrem_test_files, "CT-ESR-GE_Optima.dcm")
    assert optima.document_type == "enhanced_sr"
    assert optima.accumulated.total_number_of_events == 6
    assert optima.accumulated.dlp_total_mgycm == pytest.approx(415.82, abs=0.005)
    assert [e.acquisition_type for e in optima.events] == [CA, CA, SP, CA, CA, SP]
    assert [e.scanning_length_mm for e in optima.events] == pytest.approx(
        [560, 560, 418.75, 560, 560, 443.75]
    )
    assert (optima.events[2].ctdivol_mgy, optima.events[2].dlp_mgycm) == pytest.approx((3.23, 155.97))
    assert (optima.events[5].ctdivol_mgy, optima.events[5].dlp_mgycm) == pytest.approx((5.3, 259.85))
    # Scouts have no CT Dose container: absent, not zero.
    assert optima.events[0].ctdivol_mgy is None and optima.events[0].dlp_mgycm is None
    assert "no_ct_dose_container" in optima.events[0].flags

    vct = read(openrem_test_files, "CT-ESR-GE_VCT.dcm")
    assert vct.accumulated.total_number_of_events == 27
    assert vct.accumulated.dlp_total_mgycm == pytest.approx(2002.39, abs=0.005)
    expected_types = (
        [CA, CA, CA, CA, ST, SP, SP, CA, CA, CA, CA, ST, SQ] + [CA] * 8 + [ST, ST, SQ, SQ, SQ, SQ]
    )
    assert [e.acquisition_type for e in vct.events] == expected_types
    expected = {
        5: (8.74, 429.19),
        6: (4.93, 246.69),
        11: (6.23, 3.12),
        12: (22.26, 890.26),
        22: (176.12, 352.24),
        23: (29.31, 14.66),
        24: (29.31, 14.66),
        25: (31.66, 15.83),
        26: (32.83, 16.41),
    }
    for index, (ctdivol, dlp) in expected.items():
        assert (vct.events[index].ctdivol_mgy, vct.events[index].dlp_mgycm) == pytest.approx((ctdivol, dlp))
    lengths = [450] * 4 + [5, 468.12, 468.12] + [500] * 4 + [5, 397.5] + [450] * 8 + [5, 18.75, 0, 0, 0, 0]
    assert [e.scanning_length_mm for e in vct.events] == pytest.approx(lengths)
    # The head sequence was reported on the 16 cm phantom: the phantom is read, not assumed.
    assert vct.events[12].phantom == Phantom.HEAD_16CM
    assert vct.events[5].phantom == Phantom.BODY_32CM


def test_non_dose_enhanced_sr_is_recognised_not_half_parsed(openrem_test_files: Path) -> None:
    # test_import_ct_esr_ge.py::test_import_esr_non_dose (OpenREM imports nothing from it)
    with pytest.raises(NotADoseReportError) as caught:
        read(openrem_test_files, "ESR_non-dose.dcm")
    assert caught.value.document_type == "sr_without_dose_template"


@pytest.mark.parametrize(
    ("name", "document_type"),
    [
        ("CT-SC-Philips_Brilliance16P.dcm", "not_sr"),
        ("MG-RDSR-Hologic_2D.dcm", "mammography_dose_sr"),
        ("DX-RDSR-Canon_CXDI.dcm", "projection_xray_dose_sr"),
        ("NM-RRDSR-Siemens.dcm", "radiopharmaceutical_dose_sr"),
    ],
)
def test_other_documents_are_named_for_what_they_are(
    openrem_test_files: Path, name: str, document_type: str
) -> None:
    with pytest.raises(NotADoseReportError) as caught:
        read(openrem_test_files, name)
    assert caught.value.document_type == document_type


def test_pixelmed_toshiba_and_ge(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_toshiba_pixelmed.py: test_import_toshiba_from_pixelmed, test_import_ge_from_pixelmed
    toshiba = read(openrem_test_files, "CT-RDSR-ToshibaPixelMed.dcm")
    assert toshiba.accumulated.total_number_of_events == 3
    assert toshiba.accumulated.dlp_total_mgycm == pytest.approx(349.7, abs=0.005)
    assert toshiba.events[2].ctdivol_mgy == pytest.approx(24.7)
    ge = read(openrem_test_files, "CT-RDSR-GEPixelMed.dcm")
    assert ge.accumulated.total_number_of_events == 2
    assert ge.accumulated.dlp_total_mgycm == pytest.approx(586.34, abs=0.005)
    assert ge.events[0].ctdivol_mgy == pytest.approx(60.41)


def test_philips_bigbore(openrem_test_files: Path) -> None:
    # test_import_ct_philips_rdsr.py::test_import_ct_rdsr_bigbore
    report = read(openrem_test_files, "CT-RDSR-Philips_BigBore4DCT.dcm")
    assert len(report.events) == 1
    assert report.events[0].ctdivol_mgy == pytest.approx(23.7)


def test_toshiba_dose_check_alerts(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_toshiba_dosecheck.py::test_dose_check_import
    report = read(openrem_test_files, "CT-RDSR-Toshiba_DoseCheck.dcm")
    alerts = [next(d for d in e.dose_checks if d.kind == "alert") for e in report.events]
    assert [a.dlp_threshold for a in alerts] == pytest.approx([100.0, 100.0])
    assert [a.ctdivol_threshold for a in alerts] == pytest.approx([10.0, 10.0])
    assert [a.dlp_forward_estimate for a in alerts] == pytest.approx([251.2, 502.4])
    # Forward estimates above the configured DLP alert value: flagged for the physicist.
    assert all("dose_check_alert_reached" in e.flags for e in report.events)


def test_spectrum_dynamics(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_spectrumdynamics.py::test_spectrum_dynamics_import
    report = read(openrem_test_files, "CT-RDSR-SpectrumDynamics.dcm")
    assert report.accumulated.dlp_total_mgycm == pytest.approx(187.339, abs=0.0005)
    alerts = [next(d for d in e.dose_checks if d.kind == "alert") for e in report.events[1:5]]
    assert [a.dlp_forward_estimate for a in alerts] == pytest.approx([21.64, 47.0858, 172.421, 243.091])
    assert all(a.dlp_value_configured is False and a.ctdivol_value_configured is False for a in alerts)
    notifications = [next(d for d in e.dose_checks if d.kind == "notification") for e in report.events[1:5]]
    assert all(n.dlp_value_configured is False for n in notifications)


def test_toshiba_invalid_number_is_kept_and_flagged(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_toshiba_multivaluesd.py: "illegal string in DS field" must not stop the import
    report = read(openrem_test_files, "CT-RDSR-Toshiba_MultiValSD.dcm")
    assert report.series_instance_uid == "1.3.6.1.4.1.5962.99.1.1042634278.1704769588.1538640959014.8.0"
    assert len(report.events) == 3
    flagged = report.events[2]
    assert "10.50/ 15.00" in flagged.invalid_values.values()
    assert any(f.startswith("invalid_number:") for f in flagged.flags)
    assert flagged.dlp_mgycm == pytest.approx(136.9)


def test_siemens_cumulative_series_counts_each_event_once(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_multiple.py::test_import_ct_rdsr_mulitple: after Multi-1, -2, -3 (and Multi-3
    # again): one study, 3 events (1 constant angle, 2 spiral), total DLP 236.09.
    names = [
        "CT-RDSR-Siemens-Multi-1.dcm",
        "CT-RDSR-Siemens-Multi-2.dcm",
        "CT-RDSR-Siemens-Multi-3.dcm",
        "CT-RDSR-Siemens-Multi-3.dcm",
    ]
    reports = [read(openrem_test_files, n) for n in names]
    assert len({r.study_instance_uid for r in reports}) == 1
    study = deduplicate_study(reports[0].study_instance_uid, reports)
    assert study.duplicate_reports == 1
    assert len(study.events) == 3
    assert sorted(str(u.event.acquisition_type) for u in study.events) == sorted([str(CA), str(SP), str(SP)])
    assert study.dlp_total_recomputed == pytest.approx(236.09, abs=0.005)
    assert study.totals_match is True
    # Each partial report on its own: OpenREM's intermediate assertions (1 event / 7.46, 2 events / 77.27).
    assert (len(reports[0].events), reports[0].dlp_total_from_events) == (1, pytest.approx(7.46))
    assert (len(reports[1].events), reports[1].dlp_total_from_events) == (2, pytest.approx(77.27))


def test_siemens_continued_reports_add_events(openrem_test_files: Path) -> None:
    # test_import_ct_rdsr_multiple.py::test_import_ct_rdsr_continued: 2 events each, one study
    reports = [read(openrem_test_files, f"CT-RDSR-Siemens-Continued-{n}.dcm") for n in (1, 2)]
    study = deduplicate_study(reports[0].study_instance_uid, reports)
    assert len(study.events) == 4
    assert study.dlp_total_reported == pytest.approx(60.17 + 56.44)
    assert study.totals_match is True


def test_a_mismatching_total_is_flagged_not_hidden(openrem_test_files: Path) -> None:
    import dataclasses

    report = read(openrem_test_files, "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    tampered = dataclasses.replace(report, events=report.events[:3])  # an event lost in transit
    study = deduplicate_study(report.study_instance_uid, [tampered])
    assert study.totals_match is False
    assert "total_mismatch" in study.flags
