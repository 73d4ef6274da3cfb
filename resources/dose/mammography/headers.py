"""Exposure attributes of projection X-ray image headers (MG, DX, CR), for studies without a dose SR.

Every image of a mammogram carries its own exposure, so each instance is one row. Units are normalised
and the origin is recorded: Organ Dose (0040,0316) is in dGy (stored here in mGy), Entrance Dose in mGy
(0040,8302) is mGy (the older Entrance Dose (0040,0302) is dGy and used only when the mGy one is
absent), Compression Pressure (0018,11A3) is kPa (else force over Compression Contact Area (0018,11A5),
mm2), Image and Fluoroscopy Area Dose Product (0018,115E) is dGy cm2 (stored in Gy cm2). Free-text
attributes (Comments on Radiation Dose, where some vendors put a glandularity estimate) are not read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword

from resources.dose.errors import UnreadableFileError
from resources.dose.image_headers import _date, _datetime
from resources.dose.image_headers import _float as _converted_float
from resources.dose.image_headers import _text as _converted_text
from resources.dose.rdsr.content_items import PYDICOM_DCMREAD_ERRORS

PROJECTION_MODALITIES = frozenset({"MG", "DX", "CR"})
# Breast tomosynthesis and breast projection (DBT source projections) image storage.
TOMOSYNTHESIS_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.13.1.3", "1.2.840.10008.5.1.4.1.1.13.1.4", "1.2.840.10008.5.1.4.1.1.13.1.5"}
)
ORIGIN = "image_header"

HEADER_KEYWORDS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "ImageType",
    "PresentationIntentType",
    "StudyDate",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ContentDate",
    "ContentTime",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionName",
    "OperatorsName",
    "BodyPartExamined",
    "ViewPosition",
    "ImageLaterality",
    "Laterality",
    "KVP",
    "Exposure",
    "ExposureInuAs",
    "ExposureTime",
    "XRayTubeCurrent",
    "AnodeTargetMaterial",
    "FilterMaterial",
    "FilterThicknessMinimum",
    "BodyPartThickness",
    "CompressionForce",
    "CompressionPressure",
    "CompressionContactArea",
    "RelativeXRayExposure",
    "HalfValueLayer",
    "OrganDose",
    "EntranceDose",
    "EntranceDoseInmGy",
    "DistanceSourceToEntrance",
    "DistanceSourceToPatient",
    "DistanceSourceToDetector",
    "ImageAndFluoroscopyAreaDoseProduct",
    "ExposureIndex",
    "TargetExposureIndex",
    "DeviationIndex",
    "DetectorType",
    "ExposureControlMode",
]


@dataclass(frozen=True, slots=True)
class ProjectionExposure:
    """One projection exposure as its image header states it (None = not sent)."""

    path: str
    origin: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    presentation_intent: str | None
    is_tomosynthesis: bool
    study_date: dt.date | None
    acquisition_datetime: dt.datetime | None
    manufacturer: str | None
    model_name: str | None
    station_name: str | None
    institution_name: str | None
    operator_key: str | None
    body_part: str | None
    view_position: str | None
    laterality: str | None
    kvp: float | None
    exposure_mas: float | None
    exposure_time_ms: float | None
    tube_current_ma: float | None
    anode_target_material: str | None
    filter_material: str | None
    filter_thickness_mm: float | None
    body_part_thickness_mm: float | None
    compression_force_n: float | None
    compression_pressure_kpa: float | None
    compression_contact_area_mm2: float | None
    relative_xray_exposure: float | None
    hvl_mm_al: float | None
    organ_dose_mgy: float | None
    entrance_dose_mgy: float | None
    distance_source_to_entrance_mm: float | None
    distance_source_to_support_mm: float | None
    dap_gycm2: float | None
    exposure_index: float | None
    target_exposure_index: float | None
    deviation_index: float | None
    detector_type: str | None
    exposure_control_mode: str | None
    flags: tuple[str, ...]


def operator_key(name: str | None) -> str | None:
    """A digest of the (already de-identified) Operators' Name: groups exposures, shows no name."""
    if not name:
        return None
    return "op-" + hashlib.sha256(name.strip().upper().encode()).hexdigest()[:12]


# Numbers and codes are read from the raw bytes: pydicom's conversion and validation of each value
# cost more than the file read itself (benchmarks/mammography.py). Names keep pydicom's decoding,
# which honours the character set.
_ASCII_VRS = frozenset({"AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_TAGS = {keyword: tag_for_keyword(keyword) for keyword in HEADER_KEYWORDS}
_NAMES = frozenset(
    {"Manufacturer", "ManufacturerModelName", "StationName", "InstitutionName", "OperatorsName"}
)


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    tag = _TAGS.get(keyword)
    if tag is None or keyword in _NAMES:
        return _converted_text(ds, keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        if dictionary_VR(tag) not in _ASCII_VRS:
            return _converted_text(ds, keyword)
        value = value.decode("ascii", "replace")
    elif value is None:
        return None
    elif not isinstance(value, str):
        return _converted_text(ds, keyword)
    return value.strip(" \x00") or None


def _float(ds: pydicom.Dataset, keyword: str) -> float | None:
    tag = _TAGS.get(keyword)
    if tag is not None and dictionary_VR(tag) not in _ASCII_VRS:
        return _converted_float(ds, keyword)  # binary VRs (US, FD): pydicom decodes the byte order
    text = _text(ds, keyword)
    if text is None:
        return None
    try:
        # A multi-valued number keeps its first value; " 40.196" in an IS is read as what it says.
        return float(text.split("\\")[0])
    except ValueError:
        return None


def _mas(ds: pydicom.Dataset) -> float | None:
    # Exposure (0018,1152) is an integer mAs; Exposure in uAs keeps the decimals when sent.
    micro = _float(ds, "ExposureInuAs")
    return micro / 1000.0 if micro is not None else _float(ds, "Exposure")


def read_projection_exposure(path: str | Path) -> ProjectionExposure:
    """Read the exposure attributes of one MG, DX or CR image (pixel data never read).

    Raises
    ------
    UnreadableFileError
        When the file is not readable DICOM.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except PYDICOM_DCMREAD_ERRORS as exc:
        raise UnreadableFileError(f"{path}: cannot read image header: {type(exc).__name__}") from exc
    flags: list[str] = []
    adt = _text(ds, "AcquisitionDateTime")
    acquired = _datetime(adt[:8], adt[8:]) if adt else None
    acquired = acquired or _datetime(
        _text(ds, "AcquisitionDate") or _text(ds, "StudyDate"), _text(ds, "AcquisitionTime")
    )
    acquired = acquired or _datetime(_text(ds, "ContentDate"), _text(ds, "ContentTime"))
    organ_dose_dgy = _float(ds, "OrganDose")
    entrance = _float(ds, "EntranceDoseInmGy")
    if entrance is None:
        legacy_dgy = _float(ds, "EntranceDose")
        if legacy_dgy:
            entrance = legacy_dgy * 100.0
            flags.append("entrance_dose_from_dgy_attribute")
    dap_dgycm2 = _float(ds, "ImageAndFluoroscopyAreaDoseProduct")
    sop_class = _text(ds, "SOPClassUID") or ""
    image_type = " ".join(str(v).upper() for v in (ds.get("ImageType") or []))
    thickness = _float(ds, "BodyPartThickness")
    if thickness is not None and thickness <= 0:
        flags.append("thickness_not_positive")
    force = _float(ds, "CompressionForce")
    area = _float(ds, "CompressionContactArea")  # mm2
    pressure = _float(ds, "CompressionPressure")  # kPa
    if pressure is None and force is not None and area:
        pressure = force / area * 1000.0  # N/mm2 = MPa -> kPa
        flags.append("pressure_from_force_and_area")
    modality = (_text(ds, "Modality") or "").upper()
    return ProjectionExposure(
        path=str(path),
        origin=ORIGIN,
        sop_class_uid=sop_class,
        sop_instance_uid=_text(ds, "SOPInstanceUID") or "",
        study_instance_uid=_text(ds, "StudyInstanceUID") or "",
        series_instance_uid=_text(ds, "SeriesInstanceUID") or "",
        modality=modality,
        presentation_intent=(_text(ds, "PresentationIntentType") or "").upper() or None,
        is_tomosynthesis=sop_class in TOMOSYNTHESIS_SOP_CLASSES or "TOMOSYNTHESIS" in image_type,
        study_date=_date(_text(ds, "StudyDate")),
        acquisition_datetime=acquired,
        manufacturer=_text(ds, "Manufacturer"),
        model_name=_text(ds, "ManufacturerModelName"),
        station_name=_text(ds, "StationName"),
        institution_name=_text(ds, "InstitutionName"),
        operator_key=operator_key(_text(ds, "OperatorsName")),
        body_part=(_text(ds, "BodyPartExamined") or "").upper() or None,
        view_position=(_text(ds, "ViewPosition") or "").upper() or None,
        laterality=(_text(ds, "ImageLaterality") or _text(ds, "Laterality") or "").upper() or None,
        kvp=_float(ds, "KVP"),
        exposure_mas=_mas(ds),
        exposure_time_ms=_float(ds, "ExposureTime"),
        tube_current_ma=_float(ds, "XRayTubeCurrent"),
        anode_target_material=(_text(ds, "AnodeTargetMaterial") or "").upper() or None,
        filter_material=_first_text(ds, "FilterMaterial"),
        filter_thickness_mm=_float(ds, "FilterThicknessMinimum"),
        body_part_thickness_mm=thickness,
        compression_force_n=force,
        compression_pressure_kpa=pressure,
        compression_contact_area_mm2=area,
        relative_xray_exposure=_float(ds, "RelativeXRayExposure"),
        hvl_mm_al=_float(ds, "HalfValueLayer"),
        organ_dose_mgy=organ_dose_dgy * 100.0 if organ_dose_dgy is not None else None,
        entrance_dose_mgy=entrance,
        distance_source_to_entrance_mm=_float(ds, "DistanceSourceToEntrance"),
        distance_source_to_support_mm=_float(ds, "DistanceSourceToPatient"),
        dap_gycm2=dap_dgycm2 / 10.0 if dap_dgycm2 is not None else None,
        exposure_index=_float(ds, "ExposureIndex"),
        target_exposure_index=_float(ds, "TargetExposureIndex"),
        deviation_index=_float(ds, "DeviationIndex"),
        detector_type=(_text(ds, "DetectorType") or "").upper() or None,
        exposure_control_mode=(_text(ds, "ExposureControlMode") or "").upper() or None,
        flags=tuple(flags),
    )


def _first_text(ds: pydicom.Dataset, keyword: str) -> str | None:
    # Filter Material is multi-valued (e.g. ALUMINUM\COPPER on radiography): kept joined, upper case.
    # Some vendors separate the values with commas inside one value (Carestream): split those too.
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    items = list(value) if isinstance(value, pydicom.multival.MultiValue) else [value]
    values = [part.strip().upper() for item in items for part in str(item).split(",")]
    return "\\".join(v for v in values if v) or None
