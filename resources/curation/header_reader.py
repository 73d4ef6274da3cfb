"""The kept tags of a de-identified DICOM header, read fast, one file at a time (memory stays flat).

:func:`read_header` reads only the tags the warehouse keeps (``stop_before_pixels`` and
``specific_tags``); :func:`header_values` decodes them to plain Python values, straight from the raw
bytes where that is safe, since pydicom's general conversion dominates the cost of reading a header.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from resources.errors import DicomLakeError

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
    "PatientWeight",
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

# CTDI Phantom Type codes (DCM 113690 / 113691) and the phantom each names.
PHANTOM_CODES = {"113690": "head", "113691": "body"}
_PHANTOM_BYTES = tuple((code.encode("ascii"), name) for code, name in PHANTOM_CODES.items())


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
        raise UnreadableHeaderError(f"{path.name}: unreadable DICOM header ({type(exc).__name__})") from exc


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
