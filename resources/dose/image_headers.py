"""The few image header attributes the dose engine needs (linking and estimation), read cheaply."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pydicom

from resources.dose.codes import PHANTOM_CODES, Code, Phantom
from resources.dose.errors import UnreadableFileError
from resources.dose.rdsr.content_items import PYDICOM_DCMREAD_ERRORS

HEADER_KEYWORDS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "ImageType",
    "PatientID",
    "PatientAge",
    "StudyDate",
    "StudyDescription",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ProtocolName",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "DeviceSerialNumber",
    "IrradiationEventUID",
    "CTDIvol",
    "CTDIPhantomTypeCodeSequence",
    "ImagePositionPatient",
    "SliceLocation",
    "SliceThickness",
    "KVP",
    "XRayTubeCurrent",
    "InstanceNumber",
]


@dataclass(frozen=True, slots=True)
class ImageHeader:
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    is_localizer: bool
    patient_id: str | None
    patient_age: str | None
    study_date: dt.date | None
    study_description: str | None
    acquisition_datetime: dt.datetime | None
    protocol_name: str | None
    body_part: str | None
    manufacturer: str | None
    model_name: str | None
    station_name: str | None
    irradiation_event_uids: tuple[str, ...]
    ctdivol_mgy: float | None
    phantom: Phantom | None
    z_position_mm: float | None
    slice_thickness_mm: float | None
    kvp: float | None
    tube_current_ma: float | None


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _float(ds: pydicom.Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if text else None
    except ValueError:
        return None


def _datetime(date_text: str | None, time_text: str | None) -> dt.datetime | None:
    day = _date(date_text)
    if day is None or not time_text:
        return None
    digits = time_text.replace(":", "").strip()
    main, _, frac = digits.partition(".")
    main = main.ljust(6, "0")[:6]
    try:
        t = dt.datetime.strptime(main, "%H%M%S").time()
    except ValueError:
        return None
    micro = int(frac[:6].ljust(6, "0")) if frac[:6].isdigit() else 0
    return dt.datetime.combine(day, t).replace(microsecond=micro)


def read_image_header(path: str | Path) -> ImageHeader:
    """Read the dose-relevant header of an image file (pixel data never read).

    Raises
    ------
    UnreadableFileError
        When the file is not readable DICOM.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=HEADER_KEYWORDS, force=True)
    except PYDICOM_DCMREAD_ERRORS as exc:
        raise UnreadableFileError(f"{path}: cannot read image header: {type(exc).__name__}") from exc
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    acquisition = None
    adt = _text(ds, "AcquisitionDateTime")
    if adt:
        acquisition = _datetime(adt[:8], adt[8:])
    if acquisition is None:
        acquisition = _datetime(
            _text(ds, "AcquisitionDate") or _text(ds, "StudyDate"), _text(ds, "AcquisitionTime")
        )
    if acquisition is None:
        acquisition = _datetime(_text(ds, "SeriesDate") or _text(ds, "StudyDate"), _text(ds, "SeriesTime"))
    z: float | None = None
    position = ds.get("ImagePositionPatient")
    if position is not None and len(position) == 3:
        try:
            z = float(position[2])
        except (TypeError, ValueError):
            z = None
    if z is None:
        z = _float(ds, "SliceLocation")
    phantom = None
    phantom_seq = ds.get("CTDIPhantomTypeCodeSequence")
    if phantom_seq:
        item = phantom_seq[0]
        phantom = PHANTOM_CODES.get(
            Code(str(item.get("CodeValue", "")), str(item.get("CodingSchemeDesignator", "")))
        )
    event_uid = ds.get("IrradiationEventUID")
    if event_uid is None or event_uid == "":
        events: tuple[str, ...] = ()
    elif isinstance(event_uid, str):
        events = (str(event_uid),)
    else:
        events = tuple(str(u) for u in event_uid)
    return ImageHeader(
        path=str(path),
        sop_class_uid=_text(ds, "SOPClassUID") or "",
        sop_instance_uid=_text(ds, "SOPInstanceUID") or "",
        study_instance_uid=_text(ds, "StudyInstanceUID") or "",
        series_instance_uid=_text(ds, "SeriesInstanceUID") or "",
        modality=_text(ds, "Modality") or "",
        is_localizer="LOCALIZER" in image_type,
        patient_id=_text(ds, "PatientID"),
        patient_age=_text(ds, "PatientAge"),
        study_date=_date(_text(ds, "StudyDate")),
        study_description=_text(ds, "StudyDescription"),
        acquisition_datetime=acquisition,
        protocol_name=_text(ds, "ProtocolName"),
        body_part=_text(ds, "BodyPartExamined"),
        manufacturer=_text(ds, "Manufacturer"),
        model_name=_text(ds, "ManufacturerModelName"),
        station_name=_text(ds, "StationName"),
        irradiation_event_uids=events,
        ctdivol_mgy=_float(ds, "CTDIvol"),
        phantom=phantom,
        z_position_mm=z,
        slice_thickness_mm=_float(ds, "SliceThickness"),
        kvp=_float(ds, "KVP"),
        tube_current_ma=_float(ds, "XRayTubeCurrent"),
    )
