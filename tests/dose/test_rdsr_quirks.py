"""Vendor quirks on built dose SRs: unit spellings, absent dose containers, invalid numbers, lying charsets,
scheme variants, non-CT documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from resources.dose.codes import AcquisitionType
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.rdsr.content_tree import CHARSET_MISMATCH_FLAG
from resources.dose.rdsr.ct_radiation_dose import read_ct_radiation_dose, read_dataset
from tests.dicom_builder import BASIC_TEXT_SR, write_file
from tests.dose.conftest import ct_event, rdsr_dataset


def write(tmp_path: Path, ds: Dataset) -> Path:
    return write_file(ds, tmp_path / "sr.dcm")


@pytest.mark.parametrize("unit", ["mGy.cm", "mGycm", "mGy*cm"])
def test_dlp_unit_spellings_read_alike(tmp_path: Path, unit: str) -> None:
    report = read_ct_radiation_dose(
        write(tmp_path, rdsr_dataset([ct_event("1.2.3.1", dlp="412.50", dlp_unit=unit)]))
    )
    event = report.events[0]
    assert event.dlp_mgycm == pytest.approx(412.5)
    assert not [f for f in event.flags if f.startswith("unexpected_unit")]


def test_unknown_unit_is_flagged(tmp_path: Path) -> None:
    report = read_ct_radiation_dose(write(tmp_path, rdsr_dataset([ct_event("1.2.3.1", dlp_unit="uGy.m")])))
    assert "unexpected_unit:dlp:uGy.m" in report.events[0].flags


def test_scout_without_dose_container_is_absent_not_zero(tmp_path: Path) -> None:
    scout = ct_event(
        "1.2.3.1", ctdivol=None, acquisition_type=("113805", "DCM", "Constant Angle Acquisition")
    )
    report = read_ct_radiation_dose(write(tmp_path, rdsr_dataset([scout, ct_event("1.2.3.2")])))
    assert report.events[0].ctdivol_mgy is None and report.events[0].dlp_mgycm is None
    assert report.events[0].has_dose_container is False
    assert report.dlp_total_from_events == pytest.approx(300.0)


def test_trailing_zeros_and_invalid_numbers(tmp_path: Path) -> None:
    events = [
        ct_event("1.2.3.1", ctdivol="5.30", dlp="0.813000"),
        ct_event("1.2.3.2", ctdivol="10.50/ 15.00"),
    ]
    report = read_ct_radiation_dose(write(tmp_path, rdsr_dataset(events, total_dlp="300.81")))
    assert (report.events[0].ctdivol_mgy, report.events[0].dlp_mgycm) == (5.3, 0.813)
    bad = report.events[1]
    assert bad.ctdivol_mgy is None  # no guess at which of the two numbers was meant
    assert bad.invalid_values == {"ctdivol": "10.50/ 15.00"}
    assert "invalid_number:ctdivol" in bad.flags
    assert bad.dlp_mgycm == pytest.approx(300.0)  # the rest of the event is kept


def test_utf8_bytes_in_a_latin1_file(tmp_path: Path) -> None:
    ds = rdsr_dataset([ct_event("1.2.3.1", protocol="Thorax")])
    protocol_item = ds.ContentSequence[3].ContentSequence[0]
    protocol_item.add_new(0x0040A160, "UT", "Thorax æøå".encode())  # raw UTF-8, file says ISO_IR 100
    report = read_ct_radiation_dose(write(tmp_path, ds))
    assert report.events[0].acquisition_protocol == "Thorax æøå"
    assert CHARSET_MISMATCH_FLAG in report.flags


def test_true_latin1_stays_latin1(tmp_path: Path) -> None:
    ds = rdsr_dataset([ct_event("1.2.3.1")])
    ds.ContentSequence[3].ContentSequence[0].add_new(0x0040A160, "UT", "Thorax æøå".encode("latin-1"))
    report = read_ct_radiation_dose(write(tmp_path, ds))
    assert report.events[0].acquisition_protocol == "Thorax æøå"
    assert CHARSET_MISMATCH_FLAG not in report.flags


@pytest.mark.parametrize(
    "code",
    [
        ("116152004", "SCT", "Spiral"),
        ("P5-08001", "SRT", "Spiral Acquisition"),
        ("C0860888", "UMLS", "Helical"),
    ],
)
def test_spiral_in_every_scheme(code: tuple[str, str, str]) -> None:
    report = read_dataset(rdsr_dataset([ct_event("1.2.3.1", acquisition_type=code)]))
    assert report.events[0].acquisition_type == AcquisitionType.SPIRAL


def test_meaning_is_never_matched() -> None:
    # Right meaning, wrong code: not a spiral.
    report = read_dataset(
        rdsr_dataset([ct_event("1.2.3.1", acquisition_type=("999", "99X", "Spiral Acquisition"))])
    )
    assert report.events[0].acquisition_type is None
    assert "unknown_acquisition_type:(999, 99X)" in report.events[0].flags


def test_a_basic_text_sr_is_not_a_dose_report() -> None:
    ds = rdsr_dataset([ct_event("1.2.3.1")])
    ds.SOPClassUID = BASIC_TEXT_SR
    with pytest.raises(NotADoseReportError, match="cannot carry TID 10011"):
        read_dataset(ds, "x.dcm")


def test_garbage_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"not dicom at all")
    with pytest.raises((UnreadableFileError, NotADoseReportError)):
        read_ct_radiation_dose(path)
