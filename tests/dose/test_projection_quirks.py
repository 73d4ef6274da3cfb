"""Vendor quirks of projection X-ray dose SRs, each on the real file (openrem wheel) that shows it; the
carriers, dual plane and truncation on copies of real files changed in the one respect tested."""

from __future__ import annotations

import copy
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from resources import sop_classes
from resources.dose.rdsr.projection_codes import AcquisitionPlane
from resources.dose.rdsr.projection_radiation_dose import (
    TRUNCATED_FLAG,
    read_dataset,
    read_projection_radiation_dose,
)

pytestmark = pytest.mark.openrem

ZEE = "RF-RDSR-Siemens-Zee.dcm"


def test_dose_at_rp_sent_in_mgy_is_converted_and_flagged(openrem_test_files: Path) -> None:
    report = read_projection_radiation_dose(openrem_test_files / "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm")
    assert all("dose_rp_in_mgy:dose_rp" in e.flags for e in report.events)
    assert report.events[0].dose_rp_gy == pytest.approx(0.384e-3)  # 0.384 mGy in the file
    assert report.accumulated[0].dose_rp_total_gy == pytest.approx(30.573e-3)


def test_empty_dap_sequences_are_absent_not_zero(openrem_test_files: Path) -> None:
    report = read_projection_radiation_dose(openrem_test_files / "DX-RDSR-Canon_CXDI_noDAP.dcm")
    assert [e.dose_area_product_gym2 for e in report.events] == [None, None]
    assert all("empty_value:dose_area_product" in e.flags for e in report.events)
    assert report.accumulated[0].dose_area_product_total_gym2 is None
    assert "empty_value:accumulated_dose_area_product_total" in report.flags
    assert [e.kvp for e in report.events] != [None, None]  # the rest of each event is kept


def test_decimals_in_integer_fields(openrem_test_files: Path) -> None:
    report = read_projection_radiation_dose(openrem_test_files / "RF-RDSR-GE.dcm")
    assert report.accumulated[0].total_number_of_radiographic_frames == 0  # written "0.00"
    assert "decimal_in_integer:accumulated_total_number_of_radiographic_frames" in report.flags
    pulsed = [e for e in report.events if e.number_of_pulses is not None]
    assert pulsed and all("decimal_in_integer:number_of_pulses" in e.flags for e in pulsed)


def test_several_values_in_one_num_item(openrem_test_files: Path) -> None:
    path = openrem_test_files / "RF-RDSR-Eurocolumbus.dcm"
    report = read_projection_radiation_dose(path)
    event = report.events[0]
    raw = pydicom.dcmread(path)
    first = next(c for c in raw.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113706")
    kvps = next(c for c in first.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113733")
    values = [float(v) for v in kvps.MeasuredValueSequence[0].NumericValue]
    nonzero = [v for v in values if v]
    assert event.kvp == pytest.approx(sum(nonzero) / len(nonzero))  # a zero pulse exposed nothing
    assert f"several_values:kvp:{len(values)}" in event.flags
    assert any(f.startswith("several_values:tube_current:") for f in event.flags)


def test_missing_study_time(openrem_test_files: Path) -> None:
    """No projection RDSR of the wheel lacks Study Time (only an image does): the real Zee file without it."""
    ds = pydicom.dcmread(openrem_test_files / ZEE)
    del ds.StudyTime
    report = read_dataset(ds, "no-time")
    assert report.study_time is None
    assert "no_study_time" in report.flags
    assert len(report.events) == 8 and report.events[0].datetime_started is not None
    ds.StudyTime = ""
    assert "no_study_time" in read_dataset(ds, "empty-time").flags
    assert "no_study_time" not in read_projection_radiation_dose(openrem_test_files / ZEE).flags


@pytest.mark.parametrize(
    ("sop_class", "storage"),
    [(sop_classes.ENHANCED_SR, "enhanced_sr"), (sop_classes.COMPREHENSIVE_SR, "comprehensive_sr")],
)
def test_enhanced_and_comprehensive_sr_carriers(
    openrem_test_files: Path, sop_class: str, storage: str
) -> None:
    ds = pydicom.dcmread(openrem_test_files / ZEE)
    ds.SOPClassUID = sop_class
    report = read_dataset(ds, "carrier")
    original = read_projection_radiation_dose(openrem_test_files / ZEE)
    assert report.document_type == storage
    assert f"carrier:{storage}" in report.flags
    assert report.events == original.events
    assert report.accumulated == original.accumulated


def _set_plane(container: Dataset, value: str, meaning: str) -> None:
    for child in container.ContentSequence:
        if child.ConceptNameCodeSequence[0].CodeValue == "113764":
            child.ConceptCodeSequence[0].CodeValue = value
            child.ConceptCodeSequence[0].CodeMeaning = meaning


def test_dual_plane_totals_per_plane(openrem_test_files: Path) -> None:
    """A biplane report: the real Zee file with its events split over Plane A and B, one total each."""
    ds = pydicom.dcmread(openrem_test_files / ZEE)
    items = list(ds.ContentSequence)
    events = [c for c in items if c.ConceptNameCodeSequence[0].CodeValue == "113706"]
    accumulated = next(c for c in items if c.ConceptNameCodeSequence[0].CodeValue == "113702")
    for index, event in enumerate(events):
        _set_plane(event, *(("113620", "Plane A") if index < 4 else ("113621", "Plane B")))
    plane_b = copy.deepcopy(accumulated)
    _set_plane(accumulated, "113620", "Plane A")
    _set_plane(plane_b, "113621", "Plane B")
    items.insert(items.index(accumulated) + 1, plane_b)
    ds.ContentSequence = Sequence(items)
    report = read_dataset(ds, "biplane")
    assert report.planes == (AcquisitionPlane.PLANE_A, AcquisitionPlane.PLANE_B)
    assert (
        len(report.events_in(AcquisitionPlane.PLANE_A))
        == len(report.events_in(AcquisitionPlane.PLANE_B))
        == 4
    )
    both = report.dap_total_from_events(AcquisitionPlane.PLANE_A) + report.dap_total_from_events(
        AcquisitionPlane.PLANE_B
    )
    assert both == pytest.approx(report.dap_total_from_events())
    assert report.accumulated_for(AcquisitionPlane.PLANE_B) is not None


@pytest.mark.parametrize("fraction", [0.35, 0.6, 0.95])
def test_truncated_report_is_a_flagged_partial_result(
    openrem_test_files: Path, tmp_path: Path, fraction: float
) -> None:
    data = (openrem_test_files / "RF-RDSR-Philips_Azurion.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * fraction)])
    report = read_projection_radiation_dose(cut)
    assert report.partial is True
    assert TRUNCATED_FLAG in report.flags
    assert 0 < len(report.events) < 89
    assert all(e.irradiation_event_uid for e in report.events)  # only whole events are kept
    full = read_projection_radiation_dose(openrem_test_files / "RF-RDSR-Philips_Azurion.dcm")
    assert report.events == full.events[: len(report.events)]


def test_truncation_on_an_item_boundary_is_still_flagged(openrem_test_files: Path, tmp_path: Path) -> None:
    """Cut exactly after a whole event: the sequence's stated length still betrays the loss."""
    path = openrem_test_files / ZEE
    data = path.read_bytes()
    ds = pydicom.dcmread(path)
    last = [c for c in ds.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113706"][-1]
    # The last event's UID marks where it starts; cutting just before its item header keeps the rest whole.
    uid = next(c.UID for c in last.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113769")
    at = data.rfind(b"\xfe\xff\x00\xe0", 0, data.find(uid.encode()))
    while at > 0:
        candidate = tmp_path / "boundary.dcm"
        candidate.write_bytes(data[:at])
        report = read_projection_radiation_dose(candidate)
        if report.events:
            break
        at = data.rfind(b"\xfe\xff\x00\xe0", 0, at)
    assert report.partial and TRUNCATED_FLAG in report.flags
    assert len(report.events) < 8
