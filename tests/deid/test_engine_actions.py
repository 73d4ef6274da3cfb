"""Per action code, per option, sequence recursion, private tags, opt-out, pixels, bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from resources.deid.engine import Deidentifier
from tests.deid.conftest import phi_ct
from tests.dicom_builder import CT_IMAGE, write_file

Build = Callable[..., Deidentifier]


def nest(depth: int, leaf: Dataset) -> Sequence:
    """``depth`` levels of Referenced Image Sequence (X/Z/U*: kept, UIDs replaced) around ``leaf``."""
    inner = Sequence([leaf])
    for _ in range(depth - 1):
        item = Dataset()
        item.ReferencedSOPClassUID = CT_IMAGE
        item.ReferencedSOPInstanceUID = "1.2.3.4.100.1.1"
        item.ReferencedImageSequence = inner
        inner = Sequence([item])
    return inner


def _all_text(ds: Dataset) -> str:
    parts: list[str] = []
    for elem in ds.iterall():
        if elem.VR not in ("SQ", "UI") and elem.value is not None:
            value = elem.value
            parts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(parts).lower()


def test_action_codes_d_z_x_u_k_c_p(engine: Deidentifier) -> None:
    ds = phi_ct()
    result = engine.deidentify(ds)
    assert result.outcome == "deidentified", result.reasons
    out = result.dataset
    assert out is not None
    assert not out.ReferringPhysicianName and "ReferringPhysicianName" in out  # Z
    assert "MilitaryRank" not in out  # X
    assert out.InstitutionName == "ANONYMIZED"  # X/Z/D -> D (institution identity off)
    assert out.StudyInstanceUID.startswith("2.25.") and out.StudyInstanceUID != "1.2.3.4.100"  # U
    assert out.PatientAge == "072Y" and out.PatientSex == "F" and out.PatientWeight == 58  # K by option
    assert out.StudyDescription == "CT HEAD for [PERSON]"  # C: cleaned, not removed
    assert out.ProtocolName == "HEAD ROUTINE [PERSON]"
    assert out.DeviceSerialNumber not in ("", "SN-0042-XY")  # P: pseudonymised
    assert out.StationName == "CTSTATION1" and out.Manufacturer == "GE MEDICAL SYSTEMS"
    assert float(out.CTDIvol) == 42.5 and float(out.KVP) == 120 and out.BodyPartExamined == "HEAD"
    assert out.AcquisitionTime == "101623.5"  # times kept for dose timing
    assert out.PatientIdentityRemoved == "YES"
    codes = {item.CodeValue for item in out.DeidentificationMethodCodeSequence}
    assert {"113100", "113104", "113105", "113107", "113108", "113109", "113111"} == codes
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID


def test_no_identifier_of_the_source_survives_anywhere(engine: Deidentifier) -> None:
    result = engine.deidentify(phi_ct())
    assert result.dataset is not None
    text = _all_text(result.dataset)
    for value in (
        "rigby",
        "eleanor",
        "kildare",
        "ratched",
        "mrn4455667",
        "acc7788990",
        "19540312",
        "penny lane",
        "0151 496 0123",
        "12/03/1954",
        "sergeant",
    ):
        assert value not in text, value
    assert {f.entity_type for f in result.findings} >= {"PERSON", "PHONE_NUMBER"}
    for finding in result.findings:
        assert finding.sop_instance_uid == result.sop_instance_uid


def test_uids_are_consistent_across_engines_sharing_the_key(make_engine: Build) -> None:
    first = make_engine().deidentify(phi_ct())
    second = make_engine().deidentify(phi_ct())
    assert first.dataset is not None and second.dataset is not None
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "IrradiationEventUID"):
        assert first.dataset[keyword].value == second.dataset[keyword].value
    assert first.dataset.PatientID == second.dataset.PatientID


def test_date_shift_is_per_patient_and_preserves_intervals(engine: Deidentifier) -> None:
    a = engine.deidentify(phi_ct(study_date="20261110", study_uid="1.2.3.4.100")).dataset
    b = engine.deidentify(phi_ct(study_date="20250101", study_uid="1.2.3.4.200")).dataset
    other = engine.deidentify(phi_ct(patient_id="OTHER999", study_date="20261110")).dataset
    assert a is not None and b is not None and other is not None
    day = lambda s: dt.datetime.strptime(s, "%Y%m%d").date()  # noqa: E731
    assert day(a.StudyDate) != dt.date(2026, 11, 10)
    assert (day(a.StudyDate) - day(b.StudyDate)) == (dt.date(2026, 11, 10) - dt.date(2025, 1, 1))
    assert a.AcquisitionDateTime[:8] == a.StudyDate and a.AcquisitionDateTime[8:] == "101623.5"
    assert not a.PatientBirthDate
    assert other.StudyDate != a.StudyDate or other.PatientID != a.PatientID


def test_sequence_recursion_to_depth_four(engine: Deidentifier) -> None:
    leaf = Dataset()
    leaf.PatientName = "Rigby^Eleanor"
    leaf.PatientID = "MRN4455667"
    leaf.ReferencedSOPInstanceUID = "1.2.3.4.100.1.1"
    leaf.OtherPatientIDs = "NHS9434765919"
    ds = phi_ct()
    ds.ReferencedImageSequence = nest(4, leaf)
    out = engine.deidentify(ds).dataset
    assert out is not None
    item = out.ReferencedImageSequence[0]
    for _ in range(3):
        assert item.ReferencedSOPInstanceUID == out.SOPInstanceUID  # same source UID -> same research UID
        item = item.ReferencedImageSequence[0]
    assert not item.PatientName and "OtherPatientIDs" not in item
    assert item.PatientID == "ANONYMIZED"


def test_private_tags_removed_except_the_safe_allow_list(make_engine: Build) -> None:
    ds = phi_ct()
    safe = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    safe.add_new(0x23, "DS", "39.37")
    safe.add_new(0x40, "LO", "Rigby Eleanor")  # not on the allow-list
    unknown = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    unknown.add_new(0x10, "LO", "MRN4455667")
    out = make_engine().deidentify(ds).dataset
    assert out is not None
    assert out[0x00191023].value == "39.37" and out[0x00190010].value == "GEMS_ACQU_01"
    assert 0x00191040 not in out and 0x00090010 not in out and 0x00091010 not in out
    stripped = make_engine(retain_safe_private=False).deidentify(phi_ct()).dataset
    assert stripped is not None and not any(elem.tag.is_private for elem in stripped)


def test_options_switch_off_and_on(make_engine: Build) -> None:
    out = (
        make_engine(
            retain_patient_characteristics=False,
            retain_device_identity=False,
            retain_institution_identity=True,
            retain_modified_dates=False,
            clean_descriptors=False,
        )
        .deidentify(phi_ct())
        .dataset
    )
    assert out is not None
    assert "PatientAge" not in out and "PatientWeight" not in out
    assert out.StationName == "ANONYMIZED" and out.DeviceSerialNumber == "ANONYMIZED"
    assert out.InstitutionName == "St Elsewhere Hospital"
    assert not out.StudyDate and out.LongitudinalTemporalInformationModified == "REMOVED"
    assert "StudyDescription" not in out
    codes = {item.CodeValue for item in out.DeidentificationMethodCodeSequence}
    assert "113112" in codes and "113108" not in codes and "113107" not in codes


def test_opted_out_patient_is_dropped(make_engine: Build) -> None:
    engine = make_engine(opt_out_ids=["MRN4455667"])
    assert engine.deidentify(phi_ct()).outcome == "opted_out"
    assert engine.deidentify(phi_ct(patient_id="KEEP0001")).outcome == "deidentified"


def test_burned_in_pixels_are_quarantined_unless_allowed(make_engine: Build) -> None:
    ds = phi_ct()
    ds.BurnedInAnnotation = "YES"
    result = make_engine().deidentify(ds)
    assert result.outcome == "quarantined" and result.burned_in
    us = phi_ct()
    us.Modality = "US"
    us.PixelData = b"\0" * 16
    assert make_engine().deidentify(us).outcome == "quarantined"
    allowed = phi_ct()
    allowed.BurnedInAnnotation = "YES"
    assert make_engine(allow_burned_in_pixels=True).deidentify(allowed).outcome == "deidentified"


def test_bad_input_is_quarantined_with_a_reason_that_quotes_no_value(
    engine: Deidentifier, tmp_path: Path
) -> None:
    good = tmp_path / "good.dcm"
    write_file(phi_ct(), good)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(good.read_bytes()[:700])
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    charset = tmp_path / "charset.dcm"
    bad = phi_ct()
    bad.SpecificCharacterSet = "ISO_IR 999"
    write_file(bad, charset)
    assert engine.deidentify_file(good).outcome == "deidentified"
    for path in (truncated, garbage, charset):
        result = engine.deidentify_file(path)
        assert result.outcome == "quarantined", path.name
        assert result.reason.startswith(path.name)
        assert "rigby" not in result.reason.lower() and "MRN4455667" not in result.reason


def test_double_pseudonymisation_changes_the_patient_pseudonym(make_engine: Build) -> None:
    plain = make_engine().deidentify(phi_ct()).dataset
    shared = make_engine(recipient_key=b"recipient-key-abcdefghijklmnop").deidentify(phi_ct()).dataset
    assert plain is not None and shared is not None
    assert shared.PatientID != plain.PatientID and shared.PatientID.startswith("R")


def test_output_round_trips_through_a_file(engine: Deidentifier, tmp_path: Path) -> None:
    out = engine.deidentify(phi_ct()).dataset
    assert out is not None
    path = tmp_path / "out.dcm"
    write_file(out, path)
    again = pydicom.dcmread(path)
    assert again.SOPInstanceUID == out.SOPInstanceUID and again.PatientIdentityRemoved == "YES"


def test_source_preamble_is_not_carried_into_the_research_copy(engine: Deidentifier, tmp_path: Path) -> None:
    source = phi_ct()
    source.preamble = b"II*\x00 hidden-tiff-owner-note ".ljust(128, b"#")
    path = tmp_path / "source.dcm"
    write_file(source, path)
    result = engine.deidentify_file(path)
    assert result.encoded is not None
    assert result.encoded[:128] == b"\x00" * 128
    assert b"hidden-tiff-owner-note" not in result.encoded


@pytest.mark.parametrize(
    "text", ["XR CHEST AP PORTABLE", "CT ABDOMEN PELVIS W CONTRAST 5mm 1.25", "Chest 1.0 B70f"]
)
def test_ordinary_descriptions_are_not_mangled(engine: Deidentifier, text: str) -> None:
    ds = phi_ct()
    ds.SeriesDescription = text
    out = engine.deidentify(ds).dataset
    assert out is not None and out.SeriesDescription == text


def test_a_damaged_element_is_placed_by_dictionary_name_or_offset_never_by_its_bytes() -> None:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    from resources.deid.identifier_collection import _place_of

    # "T\TI" read as a tag once the framing is off: four bytes of source text, never to be echoed.
    misread = 0x545C5449
    raw = RawDataElement(Tag(misread), None, 12, b"\0" * 4, 345, True, True)
    assert _place_of(misread, raw) == "byte offset 345"
    assert "545C5449" not in _place_of(misread, raw)
    known = 0x00100020
    raw_known = RawDataElement(Tag(known), "LO", 12, b"\0" * 4, 9, True, True)
    assert _place_of(known, raw_known) == "00100020 (PatientID)"
