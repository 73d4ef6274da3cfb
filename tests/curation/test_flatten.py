"""Flattening headers: the raw-value fast path gives the same values as pydicom's own conversion."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from resources.curation.flatten import flatten_dataset
from resources.curation.header_reader import UnreadableHeaderError, read_header
from tests.curation.conftest import make_dataset
from tests.dicom_builder import code_item, write_instance


def test_values_read_from_raw_bytes_match_pydicom(tmp_path: Path) -> None:
    ds = make_dataset("CT", SliceLocation=None, ImagePositionPatient=[1.0, 2.0, -33.5])
    ds.CTDIPhantomTypeCodeSequence = Sequence([code_item("113690", "DCM", "phantom")])
    record = flatten_dataset(read_header(write_instance(ds, tmp_path)))
    assert record["ctdivol_mgy"] == pytest.approx(float(ds.CTDIvol))
    assert record["kvp"] == pytest.approx(120.0)
    assert record["exposure_mas"] == pytest.approx(90.0)
    assert record["ctdi_phantom"] == "head"
    assert record["table_position_mm"] == pytest.approx(-33.5)
    assert record["image_type"] == "ORIGINAL\\PRIMARY\\AXIAL"
    assert record["acquisition_datetime"].isoformat() == "2026-11-10T09:35:12"
    assert record["patient_age_years"] == 54.0 and record["age_source"] == "patient_age"


def test_text_declared_latin1_but_stored_utf8_is_read_as_utf8(tmp_path: Path) -> None:
    ds = make_dataset("CT", SpecificCharacterSet="ISO_IR 100")
    path = write_instance(ds, tmp_path)
    same_length = "Thörax routin".encode()  # 14 bytes, like the value it replaces
    path.write_bytes(path.read_bytes().replace(b"Thorax routine", same_length))
    assert flatten_dataset(read_header(path))["protocol_name"] == "Thörax routin"


def test_invalid_numbers_are_flagged_not_fatal(tmp_path: Path) -> None:
    path = write_instance(make_dataset("CT", SliceThickness="7.25"), tmp_path)
    path.write_bytes(path.read_bytes().replace(b"7.25", b"7/25"))  # like "10.50/ 15.00" in real files
    record = flatten_dataset(read_header(path))
    assert record["slice_thickness_mm"] is None
    assert "SliceThickness" in record["unparseable"]


def test_missing_uid_and_non_dicom_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "x.dcm"
    junk.write_bytes(b"\x00" * 10)
    with pytest.raises(UnreadableHeaderError, match=r"x\.dcm"):
        read_header(junk)
    with pytest.raises(UnreadableHeaderError, match="SOPInstanceUID"):
        flatten_dataset(Dataset())
