"""The listener's header reader: the direct scan agrees with pydicom for every transfer syntax."""

from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from resources.spool.errors import UnreadableInstanceError
from resources.spool.instance_header import _fast_header, read_instance_header
from tests.dicom_builder import pixel_ct


def encoded(dataset: pydicom.Dataset, syntax: str) -> bytes:
    dataset.file_meta.TransferSyntaxUID = syntax
    buffer = BytesIO()
    dataset.save_as(
        buffer,
        enforce_file_format=True,
        little_endian=syntax != ExplicitVRBigEndian,
        implicit_vr=syntax == ImplicitVRLittleEndian,
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "syntax",
    [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian],
)
def test_header_is_read_the_same_in_every_transfer_syntax(syntax: str) -> None:
    dataset = pixel_ct(study_uid="1.2.3", series_uid="1.2.3.4", sop_uid="1.2.3.4.5", study_date="20261109")
    # A sequence with undefined length before the UIDs forces the slow path in the scan.
    dataset.ReferencedStudySequence = [pydicom.Dataset()]
    dataset.ReferencedStudySequence[0].ReferencedSOPInstanceUID = "9.9"
    header = read_instance_header(encoded(dataset, syntax), sop_instance_uid="1.2.3.4.5")
    assert (header.study_uid, header.series_uid, header.partition_key) == ("1.2.3", "1.2.3.4", "2026-11-09")


def test_fast_scan_is_used_for_little_endian_and_finds_the_fallback_date() -> None:
    dataset = pixel_ct(study_uid="1.2.3", series_uid="1.2.3.4", sop_uid="1.2.3.4.5", study_date=None)
    dataset.ContentDate = "20261031"
    raw = encoded(dataset, ExplicitVRLittleEndian)
    assert _fast_header(raw) is not None
    header = read_instance_header(raw, sop_instance_uid="1.2.3.4.5")
    assert (header.partition_key, header.date_source) == ("2026-10-31", "ContentDate")


def test_missing_study_uid_and_garbage_are_unreadable() -> None:
    dataset = pixel_ct(study_uid="1.2.3", series_uid="1.2.3.4", sop_uid="1.2.3.4.5")
    del dataset.StudyInstanceUID
    with pytest.raises(UnreadableInstanceError, match=r"1\.2\.3\.4\.5: no Study Instance UID"):
        read_instance_header(encoded(dataset, ImplicitVRLittleEndian), sop_instance_uid="1.2.3.4.5")
    with pytest.raises(UnreadableInstanceError, match=r"7\.7"):
        read_instance_header(b"\0" * 128 + b"DICM" + b"\xff" * 40, sop_instance_uid="7.7")
