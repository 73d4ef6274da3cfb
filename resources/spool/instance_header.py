"""The few header values needed to file a received instance in the spool, read without a full decode.

Both receive paths use it: the listener (every instance) and the retrieval's writer (an instance the
retriever did not announce).

Only group 0008 and 0020 elements up to Series Instance UID are parsed; reading stops there, so pixel
data and the rest of the dataset are never touched. Values read here stay in the spool zone: callers
log UIDs' absence or presence, never the values of dates.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO

from resources.spool.errors import UnreadableInstanceError
from resources.spool.layout import partition_key_from_dicom_date

_STUDY_INSTANCE_UID = 0x0020000D
_SERIES_INSTANCE_UID = 0x0020000E
# Study Date first, then the fallbacks a study without one may still carry (in that order).
_DATE_TAGS = (0x00080020, 0x00080021, 0x00080022, 0x00080023)
_WANTED_INTS = {*_DATE_TAGS, _STUDY_INSTANCE_UID, _SERIES_INSTANCE_UID}


def _past_series_uid(tag: int, vr: str | None, length: int) -> bool:
    return int(tag) > _SERIES_INSTANCE_UID


@dataclass(frozen=True)
class InstanceHeader:
    """Where a received instance belongs: its study, series and study-date partition (or None)."""

    study_uid: str
    series_uid: str
    partition_key: str | None
    date_source: str | None  # which attribute gave the date: StudyDate, SeriesDate ...


_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
# Explicit VR elements whose length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UR", b"UT", b"UN", b"SV", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF


_EXPLICIT_HEAD = struct.Struct("<HH2sH")  # group, element, VR, 2-byte length
_IMPLICIT_HEAD = struct.Struct("<HHI")  # group, element, 4-byte length
_U32 = struct.Struct("<I")


def _scan_little_endian(data: bytes, offset: int, explicit: bool) -> dict[int, bytes] | None:
    """The wanted elements' raw values from an uncompressed little endian dataset, or None.

    None means "cannot tell cheaply" (an undefined-length item before the wanted elements, or
    anything malformed): the caller falls back to pydicom. This loop runs once per top-level element
    of every received instance (about fifty before Series Instance UID in a CT image), hence the
    precompiled structs and the group test before any tag arithmetic.
    """
    found: dict[int, bytes] = {}
    end = len(data)
    head = _EXPLICIT_HEAD.unpack_from if explicit else _IMPLICIT_HEAD.unpack_from
    long_length = _U32.unpack_from
    while offset + 8 <= end:
        if explicit:
            group, element, vr, length = head(data, offset)
            if vr in _LONG_VRS:
                if offset + 12 > end:
                    return None
                length = long_length(data, offset + 8)[0]
                value_at = offset + 12
            else:
                value_at = offset + 8
        else:
            group, element, length = head(data, offset)
            value_at = offset + 8
        if group >= 0x0020 and (group > 0x0020 or element > 0x000E):
            return found
        if length == _UNDEFINED or value_at + length > end:
            return None
        if group == 0x0008 or group == 0x0020:
            tag = (group << 16) | element
            if tag in _WANTED_INTS:
                found[tag] = data[value_at : value_at + length]
        offset = value_at + length
    return found


def _meta_end_and_syntax(data: bytes) -> tuple[int, str] | None:
    if len(data) < 144 or data[128:132] != b"DICM" or data[132:136] != b"\x02\x00\x00\x00":
        return None
    meta_end = 144 + struct.unpack_from("<I", data, 140)[0]
    if meta_end > len(data):
        return None  # a meta group longer than the file: pydicom says why it cannot be read
    offset = 144
    while offset + 8 <= meta_end:
        element = struct.unpack_from("<H", data, offset + 2)[0]
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > meta_end:
                return None
            length = struct.unpack_from("<I", data, offset + 8)[0]
            offset += 12
        else:
            length = struct.unpack_from("<H", data, offset + 6)[0]
            offset += 8
        if element == 0x0010:
            return meta_end, data[offset : offset + length].decode("ascii", "replace").strip("\0 ")
        offset += length
    return None


def _fast_header(encoded_file: bytes) -> dict[int, bytes] | None:
    meta = _meta_end_and_syntax(encoded_file)
    if meta is None:
        return None
    meta_end, syntax = meta
    if syntax not in (_IMPLICIT_LE, _EXPLICIT_LE):
        return None  # big endian, deflated: pydicom knows how
    return _scan_little_endian(encoded_file, meta_end, explicit=syntax == _EXPLICIT_LE)


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("ascii", "replace").strip("\0 ")


def read_instance_header(encoded_file: bytes, *, sop_instance_uid: str) -> InstanceHeader:
    """Read study/series UIDs and the partition date from a Part 10 byte string.

    Uncompressed little endian datasets are scanned directly (the common case, about ten times
    faster); anything else is read with pydicom.

    Raises
    ------
    UnreadableInstanceError
        If the bytes do not parse as DICOM or lack a Study Instance UID.
    """
    fast = _fast_header(encoded_file)
    if fast is not None:
        study_uid = _text(fast.get(_STUDY_INSTANCE_UID))
        if not study_uid:
            raise UnreadableInstanceError(f"SOP instance {sop_instance_uid}: no Study Instance UID")
        for tag, keyword in zip(
            _DATE_TAGS, ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"), strict=True
        ):
            partition_key = partition_key_from_dicom_date(_text(fast.get(tag)))
            if partition_key:
                return InstanceHeader(
                    study_uid, _text(fast.get(_SERIES_INSTANCE_UID)), partition_key, keyword
                )
        return InstanceHeader(study_uid, _text(fast.get(_SERIES_INSTANCE_UID)), None, None)
    # pydicom only here: a receiving process that never meets such a dataset never imports it.
    from pydicom.filereader import read_partial
    from pydicom.tag import BaseTag

    try:
        dataset = read_partial(
            BytesIO(encoded_file),
            stop_when=_past_series_uid,
            specific_tags=[BaseTag(t) for t in sorted(_WANTED_INTS)],
            force=True,
        )
    except Exception as exc:  # pydicom raises many types for broken input
        raise UnreadableInstanceError(
            f"SOP instance {sop_instance_uid}: dataset could not be parsed ({type(exc).__name__})"
        ) from exc
    study_uid = str(dataset.get("StudyInstanceUID", "") or "").strip()
    if not study_uid:
        raise UnreadableInstanceError(f"SOP instance {sop_instance_uid}: no Study Instance UID")
    series_uid = str(dataset.get("SeriesInstanceUID", "") or "").strip()
    partition_key = None
    date_source = None
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        partition_key = partition_key_from_dicom_date(dataset.get(keyword))
        if partition_key:
            date_source = keyword
            break
    return InstanceHeader(
        study_uid=study_uid,
        series_uid=series_uid,
        partition_key=partition_key,
        date_source=date_source,
    )
