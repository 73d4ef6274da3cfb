"""De-identified DICOM headers to flat records, one file at a time (memory stays flat).

:func:`read_header` reads only the tags the warehouse keeps (``stop_before_pixels`` and
``specific_tags``), :func:`flatten_dataset` turns a dataset into one flat record with typed values
(dates, floats, normalised units). The curator (:mod:`resources.curation.curator`) splits records into
table rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from resources.curation.ages import patient_age
from resources.curation.units import as_float, dose_to_mgy, exposure_mas
from resources.errors import DicomLakeError

logger = logging.getLogger(__name__)

TARGET_REGION_CONCEPT = "123014"

# Every tag the warehouse keeps; reading only these is what makes the header read fast.
HEADER_TAGS: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ContentDate",
    "ContentTime",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "BodyPartExamined",
    "SeriesNumber",
    "InstanceNumber",
    "ImageType",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionName",
    "SoftwareVersions",
    "DeviceSerialNumber",
    "IrradiationEventUID",
    "CTDIvol",
    "CTDIPhantomTypeCodeSequence",
    "KVP",
    "XRayTubeCurrent",
    "Exposure",
    "ExposureInuAs",
    "ExposureTime",
    "SliceThickness",
    "SpiralPitchFactor",
    "SliceLocation",
    "ImagePositionPatient",
    "OrganDose",
    "EntranceDoseInmGy",
    "BodyPartThickness",
    "CompressionForce",
    "AnodeTargetMaterial",
    "FilterMaterial",
    "ViewPosition",
    "ImageLaterality",
    "Laterality",
    "ContentSequence",
)

# Tags whose presence the quality rules check (keyword -> record field).
_PRESENCE = {
    "StudyDate": "study_date",
    "KVP": "kvp",
    "CTDIvol": "ctdivol_mgy",
    "SliceThickness": "slice_thickness_mm",
    "Manufacturer": "manufacturer",
    "ManufacturerModelName": "model_name",
    "OrganDose": "organ_dose_mgy",
    "BodyPartThickness": "body_part_thickness_mm",
    "CompressionForce": "compression_force_n",
    "ViewPosition": "view_position",
}

_PHANTOMS = {"113690": "head", "113691": "body"}
_PHANTOM_BYTES = tuple((code.encode("ascii"), name) for code, name in _PHANTOMS.items())


class UnreadableHeaderError(DicomLakeError, ValueError):
    """A file is not DICOM or its header cannot be parsed."""


def read_header(path: Path) -> Dataset:
    """Read the kept tags of one file, without pixel data.

    Raises
    ------
    UnreadableHeaderError
        If the file is not DICOM or is truncated; the message names the file and the reason.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAG_LIST)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError) as exc:
        raise UnreadableHeaderError(f"{path.name}: unreadable DICOM header ({type(exc).__name__})") from None


_STRING_VRS = {
    "AE",
    "AS",
    "CS",
    "DA",
    "DS",
    "DT",
    "IS",
    "LO",
    "LT",
    "PN",
    "SH",
    "ST",
    "TM",
    "UC",
    "UI",
    "UR",
    "UT",
}
_BINARY_FORMATS = {"FD": "d", "FL": "f", "US": "H", "UL": "I", "SS": "h", "SL": "i"}
_KEYWORD_BY_TAG = {Tag(keyword): keyword for keyword in HEADER_TAGS}
# Tags, not keywords: pydicom would look every keyword up again for every file.
_HEADER_TAG_LIST = list(_KEYWORD_BY_TAG)


def header_values(ds: Dataset) -> dict[str, Any]:
    """The kept tags as plain Python values, decoded straight from the raw bytes where that is safe.

    pydicom converts values lazily and its general conversion dominates the cost of reading a header;
    the few value representations the warehouse keeps are decoded here directly: text as UTF-8 with a
    Latin-1 fallback (files that declare ISO_IR 100 and store UTF-8 exist), binary numbers with
    ``struct``. Sequences, implicit-VR elements and other character sets go through pydicom.
    """
    charset = ds._dict.get(_CHARSET_TAG)
    simple_charset = charset is None or _raw_text(charset) in _SIMPLE_CHARSETS
    little_endian = getattr(ds, "is_little_endian", True) is not False
    values: dict[str, Any] = {}
    for tag, element in ds._dict.items():
        keyword = _KEYWORD_BY_TAG.get(tag)
        if keyword is None:
            continue
        if isinstance(element, RawDataElement) and element.VR is not None and element.value is not None:
            vr = element.VR
            if vr in _STRING_VRS and (simple_charset or vr not in _TEXT_VRS):
                values[keyword] = _raw_text(element)
                continue
            fmt = _BINARY_FORMATS.get(vr)
            if fmt is not None and len(element.value) >= struct.calcsize(fmt):
                count = len(element.value) // struct.calcsize(fmt)
                numbers = struct.unpack(("<" if little_endian else ">") + fmt * count, element.value)
                values[keyword] = numbers[0] if count == 1 else list(numbers)
                continue
        if keyword == "CTDIPhantomTypeCodeSequence" and isinstance(element, RawDataElement) and element.value:
            # Parsing a sequence costs more than the rest of the header; the item holds one DCM code
            # value (113690 head / 113691 body), found in its bytes (any VR and transfer syntax).
            values["_phantom"] = next((name for code, name in _PHANTOM_BYTES if code in element.value), None)
            continue
        values[keyword] = ds[tag].value
    return values


_CHARSET_TAG = Tag("SpecificCharacterSet")
_SIMPLE_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"}
_TEXT_VRS = {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}


def _raw_text(element: Any) -> str:
    raw = element.value
    if isinstance(raw, str):
        return raw.strip(" \x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip(" \x00")


def _text(values: dict[str, Any], keyword: str, limit: int = 128) -> str | None:
    value = values.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip()
    return text[:limit] if text else None


def _first_value(value: Any) -> Any:
    if isinstance(value, str) and "\\" in value:
        return value.split("\\", 1)[0]
    return value


def parse_date(value: Any) -> dt.date | None:
    text = str(value or "").strip()
    if len(text) < 8:
        return None
    try:
        return dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_time(value: Any) -> dt.time | None:
    text = str(value or "").strip().replace(":", "")
    if len(text) < 2:
        return None
    try:
        hour = int(text[0:2])
        minute = int(text[2:4]) if len(text) >= 4 else 0
        second = int(text[4:6]) if len(text) >= 6 else 0
        fraction = text[7:13] if len(text) > 7 and text[6] == "." else ""
        micro = int(fraction.ljust(6, "0")) if fraction.isdigit() else 0
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def parse_datetime(value: Any) -> dt.datetime | None:
    """A DT value (``YYYYMMDDHHMMSS.ffffff&ZZXX``); the offset is dropped (local times throughout)."""
    text = str(value or "").strip().split("+")[0].split("-")[0]
    day = parse_date(text[:8])
    if day is None:
        return None
    moment = parse_time(text[8:]) if len(text) > 8 else dt.time(0)
    return dt.datetime.combine(day, moment or dt.time(0))


def _combine(day: dt.date | None, moment: dt.time | None) -> dt.datetime | None:
    return dt.datetime.combine(day, moment or dt.time(0)) if day else None


def _number(values: dict[str, Any], keyword: str, record: dict[str, Any]) -> float | None:
    raw = values.get(keyword)
    if raw is None or raw == "":
        return None
    value = as_float(_first_value(raw))
    if value is None:
        record["unparseable"].append(keyword)
    return value


def _integer(values: dict[str, Any], keyword: str) -> int | None:
    value = as_float(_first_value(values.get(keyword)))
    return int(value) if value is not None else None


def _phantom(values: dict[str, Any]) -> str | None:
    if "_phantom" in values:
        return values["_phantom"]
    sequence = values.get("CTDIPhantomTypeCodeSequence")
    if not sequence:
        return None
    return _PHANTOMS.get(str(sequence[0].get("CodeValue", "")))


def target_region_codes(source: Dataset | Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Target Region (123014) codes anywhere in an SR content tree, as ``(code value, scheme)``."""
    stack = list(source.get("ContentSequence") or [])
    while stack:
        item = stack.pop()
        concept = item.get("ConceptNameCodeSequence")
        if concept and str(concept[0].get("CodeValue", "")) == TARGET_REGION_CONCEPT:
            code = item.get("ConceptCodeSequence")
            if code:
                yield (
                    str(code[0].get("CodeValue", "")),
                    str(code[0].get("CodingSchemeDesignator", "")).upper(),
                )
        stack.extend(item.get("ContentSequence") or [])


def flatten_dataset(ds: Dataset) -> dict[str, Any]:
    """One flat record of typed values from a header (see the warehouse tables for the fields).

    Raises
    ------
    UnreadableHeaderError
        If the dataset has no SOP Instance, Series or Study Instance UID.
    """
    values = header_values(ds)
    record: dict[str, Any] = {"unparseable": []}
    for keyword, name in (
        ("SOPInstanceUID", "sop_instance_uid"),
        ("SeriesInstanceUID", "series_instance_uid"),
        ("StudyInstanceUID", "study_instance_uid"),
    ):
        value = _text(values, keyword, 64)
        if not value:
            raise UnreadableHeaderError(f"header without {keyword}")
        record[name] = value
    modality = _text(values, "Modality", 16)
    record["modality"] = modality.upper() if modality else None
    record["sop_class_uid"] = _text(values, "SOPClassUID", 64)
    record["patient_pseudonym"] = _text(values, "PatientID", 64)
    sex = (_text(values, "PatientSex", 16) or "").upper()[:1]
    record["patient_sex"] = sex if sex in {"M", "F", "O"} else None

    study_date = parse_date(values.get("StudyDate"))
    study_time = parse_time(values.get("StudyTime"))
    record["study_date"] = study_date
    record["study_time"] = study_time
    record["study_datetime"] = _combine(study_date, study_time) if study_time else None
    record["series_date"] = parse_date(values.get("SeriesDate"))
    record["series_time"] = parse_time(values.get("SeriesTime"))
    acquired = parse_datetime(values.get("AcquisitionDateTime")) or (
        _combine(parse_date(values.get("AcquisitionDate")), parse_time(values.get("AcquisitionTime")))
        if values.get("AcquisitionTime")
        else None
    )
    record["acquisition_datetime"] = acquired
    record["content_datetime"] = (
        _combine(parse_date(values.get("ContentDate")), parse_time(values.get("ContentTime")))
        if values.get("ContentTime")
        else None
    )
    age, age_source = patient_age(
        _text(values, "PatientAge", 8), parse_date(values.get("PatientBirthDate")), study_date
    )
    record["patient_age_years"] = age
    record["age_source"] = age_source

    record["study_description"] = _text(values, "StudyDescription")
    record["series_description"] = _text(values, "SeriesDescription")
    record["protocol_name"] = _text(values, "ProtocolName")
    record["body_part_examined"] = _text(values, "BodyPartExamined", 32)
    record["series_number"] = _integer(values, "SeriesNumber")
    record["instance_number"] = _integer(values, "InstanceNumber")
    record["image_type"] = _text(values, "ImageType")
    record["manufacturer"] = _text(values, "Manufacturer", 64)
    record["model_name"] = _text(values, "ManufacturerModelName", 64)
    record["station_name"] = _text(values, "StationName", 16)
    record["institution_name"] = _text(values, "InstitutionName", 64)
    record["software_versions"] = _text(values, "SoftwareVersions")
    record["device_serial_number"] = _text(values, "DeviceSerialNumber", 64)
    record["irradiation_event_uid"] = _text(values, "IrradiationEventUID", 64)

    record["ctdivol_mgy"] = _number(values, "CTDIvol", record)
    record["ctdi_phantom"] = _phantom(values)
    record["kvp"] = _number(values, "KVP", record)
    record["tube_current_ma"] = _number(values, "XRayTubeCurrent", record)
    record["exposure_time_ms"] = _number(values, "ExposureTime", record)
    record["exposure_mas"] = exposure_mas(
        _number(values, "Exposure", record),
        _number(values, "ExposureInuAs", record),
        record["tube_current_ma"],
        record["exposure_time_ms"],
    )
    record["slice_thickness_mm"] = _number(values, "SliceThickness", record)
    record["spiral_pitch_factor"] = _number(values, "SpiralPitchFactor", record)
    position = values.get("ImagePositionPatient")
    record["table_position_mm"] = _number(values, "SliceLocation", record)
    if isinstance(position, str):
        position = position.split("\\")
    if record["table_position_mm"] is None and position is not None and len(position) == 3:
        record["table_position_mm"] = as_float(position[2])

    # Image headers store Organ Dose (0040,0316) in dGy (PS3.3); the warehouse keeps mGy.
    record["organ_dose_mgy"] = dose_to_mgy(_number(values, "OrganDose", record), "dGy")
    record["entrance_dose_mgy"] = _number(values, "EntranceDoseInmGy", record)
    record["body_part_thickness_mm"] = _number(values, "BodyPartThickness", record)
    record["compression_force_n"] = _number(values, "CompressionForce", record)
    record["anode_target_material"] = _text(values, "AnodeTargetMaterial", 32)
    record["filter_material"] = _text(values, "FilterMaterial", 32)
    record["view_position"] = _text(values, "ViewPosition", 16)
    record["laterality"] = _text(values, "ImageLaterality", 4) or _text(values, "Laterality", 4)

    record["target_regions"] = list(target_region_codes(values)) if record["modality"] == "SR" else []
    record["present_tags"] = {keyword for keyword, name in _PRESENCE.items() if record.get(name) is not None}
    return record
