"""De-identified DICOM headers to flat records, one file at a time (memory stays flat).

:func:`read_header` reads only the tags the warehouse keeps (``stop_before_pixels`` and
``specific_tags``), :func:`flatten_dataset` turns a dataset into one flat record with typed values
(dates, floats, normalised units). The curator (:mod:`resources.curation.curator`) splits records into
table rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from resources.curation.ages import patient_age
from resources.curation.units import as_float, dose_to_mgy, exposure_mas

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


class UnreadableHeaderError(ValueError):
    """A file is not DICOM or its header cannot be parsed."""


def read_header(path: Path) -> Dataset:
    """Read the kept tags of one file, without pixel data.

    Raises
    ------
    UnreadableHeaderError
        If the file is not DICOM or is truncated; the message names the file and the reason.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(HEADER_TAGS))
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError) as exc:
        raise UnreadableHeaderError(f"{path.name}: unreadable DICOM header ({type(exc).__name__})") from None


def _text(ds: Dataset, keyword: str, limit: int = 128) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip()
    return text[:limit] if text else None


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


def _number(ds: Dataset, keyword: str, record: dict[str, Any]) -> float | None:
    raw = ds.get(keyword)
    if raw is None or raw == "":
        return None
    value = as_float(raw)
    if value is None:
        record["unparseable"].append(keyword)
    return value


def _integer(ds: Dataset, keyword: str) -> int | None:
    value = as_float(ds.get(keyword))
    return int(value) if value is not None else None


def _phantom(ds: Dataset) -> str | None:
    sequence = ds.get("CTDIPhantomTypeCodeSequence")
    if not sequence:
        return None
    return _PHANTOMS.get(str(sequence[0].get("CodeValue", "")))


def target_region_codes(ds: Dataset) -> Iterator[tuple[str, str]]:
    """Target Region (123014) codes anywhere in an SR content tree, as ``(code value, scheme)``."""
    stack = list(ds.get("ContentSequence") or [])
    while stack:
        item = stack.pop()
        concept = item.get("ConceptNameCodeSequence")
        if concept and str(concept[0].get("CodeValue", "")) == TARGET_REGION_CONCEPT:
            code = item.get("ConceptCodeSequence")
            if code:
                yield str(code[0].get("CodeValue", "")), str(code[0].get("CodingSchemeDesignator", "")).upper()
        stack.extend(item.get("ContentSequence") or [])


def flatten_dataset(ds: Dataset) -> dict[str, Any]:
    """One flat record of typed values from a header (see the warehouse tables for the fields).

    Raises
    ------
    UnreadableHeaderError
        If the dataset has no SOP Instance, Series or Study Instance UID.
    """
    record: dict[str, Any] = {"unparseable": []}
    for keyword, name in (
        ("SOPInstanceUID", "sop_instance_uid"),
        ("SeriesInstanceUID", "series_instance_uid"),
        ("StudyInstanceUID", "study_instance_uid"),
    ):
        value = _text(ds, keyword, 64)
        if not value:
            raise UnreadableHeaderError(f"header without {keyword}")
        record[name] = value
    modality = _text(ds, "Modality", 16)
    record["modality"] = modality.upper() if modality else None
    record["sop_class_uid"] = _text(ds, "SOPClassUID", 64)
    record["patient_pseudonym"] = _text(ds, "PatientID", 64)
    sex = (_text(ds, "PatientSex", 16) or "").upper()[:1]
    record["patient_sex"] = sex if sex in {"M", "F", "O"} else None

    study_date = parse_date(ds.get("StudyDate"))
    study_time = parse_time(ds.get("StudyTime"))
    record["study_date"] = study_date
    record["study_time"] = study_time
    record["study_datetime"] = _combine(study_date, study_time) if study_time else None
    record["series_date"] = parse_date(ds.get("SeriesDate"))
    record["series_time"] = parse_time(ds.get("SeriesTime"))
    acquired = parse_datetime(ds.get("AcquisitionDateTime")) or (
        _combine(parse_date(ds.get("AcquisitionDate")), parse_time(ds.get("AcquisitionTime")))
        if ds.get("AcquisitionTime")
        else None
    )
    record["acquisition_datetime"] = acquired
    record["content_datetime"] = (
        _combine(parse_date(ds.get("ContentDate")), parse_time(ds.get("ContentTime")))
        if ds.get("ContentTime")
        else None
    )
    age, age_source = patient_age(
        _text(ds, "PatientAge", 8), parse_date(ds.get("PatientBirthDate")), study_date
    )
    record["patient_age_years"] = age
    record["age_source"] = age_source

    record["study_description"] = _text(ds, "StudyDescription")
    record["series_description"] = _text(ds, "SeriesDescription")
    record["protocol_name"] = _text(ds, "ProtocolName")
    record["body_part_examined"] = _text(ds, "BodyPartExamined", 32)
    record["series_number"] = _integer(ds, "SeriesNumber")
    record["instance_number"] = _integer(ds, "InstanceNumber")
    record["image_type"] = _text(ds, "ImageType")
    record["manufacturer"] = _text(ds, "Manufacturer", 64)
    record["model_name"] = _text(ds, "ManufacturerModelName", 64)
    record["station_name"] = _text(ds, "StationName", 16)
    record["institution_name"] = _text(ds, "InstitutionName", 64)
    record["software_versions"] = _text(ds, "SoftwareVersions")
    record["device_serial_number"] = _text(ds, "DeviceSerialNumber", 64)
    record["irradiation_event_uid"] = _text(ds, "IrradiationEventUID", 64)

    record["ctdivol_mgy"] = _number(ds, "CTDIvol", record)
    record["ctdi_phantom"] = _phantom(ds)
    record["kvp"] = _number(ds, "KVP", record)
    record["tube_current_ma"] = _number(ds, "XRayTubeCurrent", record)
    record["exposure_time_ms"] = _number(ds, "ExposureTime", record)
    record["exposure_mas"] = exposure_mas(
        _number(ds, "Exposure", record),
        _number(ds, "ExposureInuAs", record),
        record["tube_current_ma"],
        record["exposure_time_ms"],
    )
    record["slice_thickness_mm"] = _number(ds, "SliceThickness", record)
    record["spiral_pitch_factor"] = _number(ds, "SpiralPitchFactor", record)
    position = ds.get("ImagePositionPatient")
    record["table_position_mm"] = _number(ds, "SliceLocation", record)
    if record["table_position_mm"] is None and position is not None and len(position) == 3:
        record["table_position_mm"] = as_float(position[2])

    # Image headers store Organ Dose (0040,0316) in dGy (PS3.3); the warehouse keeps mGy.
    record["organ_dose_mgy"] = dose_to_mgy(_number(ds, "OrganDose", record), "dGy")
    record["entrance_dose_mgy"] = _number(ds, "EntranceDoseInmGy", record)
    record["body_part_thickness_mm"] = _number(ds, "BodyPartThickness", record)
    record["compression_force_n"] = _number(ds, "CompressionForce", record)
    record["anode_target_material"] = _text(ds, "AnodeTargetMaterial", 32)
    record["filter_material"] = _text(ds, "FilterMaterial", 32)
    record["view_position"] = _text(ds, "ViewPosition", 16)
    record["laterality"] = _text(ds, "ImageLaterality", 4) or _text(ds, "Laterality", 4)

    record["target_regions"] = list(target_region_codes(ds)) if record["modality"] == "SR" else []
    record["present_tags"] = {keyword for keyword, name in _PRESENCE.items() if record.get(name) is not None}
    return record
