"""De-identified DICOM headers to flat records with typed values (dates, floats, normalised units).

:func:`flatten_dataset` turns the kept tags of a header (:mod:`resources.curation.header_reader`) into
one flat record; the curator (:mod:`resources.curation.curator`) splits records into table rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from resources.curation.ages import patient_age
from resources.curation.header_reader import PHANTOM_CODES, UnreadableHeaderError, header_values
from resources.curation.units import as_float, dose_to_mgy, exposure_mas

TARGET_REGION_CONCEPT = "123014"

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


def patient_weight_kg(value: float | None) -> float | None:
    """Patient's Weight (0010,1030, kg) as de-identified; 0 and negatives are "not entered".

    The weight is kept only under the PS3.15 Retain Patient Characteristics option; it selects the
    weight band of paediatric reference levels (RP 185), so an unknown weight must stay unknown rather
    than fall into the lightest band.
    """
    return value if value is not None and value > 0 else None


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
    return PHANTOM_CODES.get(str(sequence[0].get("CodeValue", "")))


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
    record["patient_weight_kg"] = patient_weight_kg(_number(values, "PatientWeight", record))

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
