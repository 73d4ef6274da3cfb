"""The few header values the listener needs to file a received instance, read without a full decode.

Only group 0008 and 0020 elements up to Series Instance UID are parsed; reading stops there, so pixel
data and the rest of the dataset are never touched. Values read here stay in the spool zone: callers
log UIDs' absence or presence, never the values of dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from pydicom.filereader import read_partial
from pydicom.tag import BaseTag

from resources.listener.errors import UnreadableInstance
from resources.spool.store import partition_key_from_dicom_date

_STUDY_INSTANCE_UID = 0x0020000D
_SERIES_INSTANCE_UID = 0x0020000E
# Study Date first, then the fallbacks a study without one may still carry (in that order).
_DATE_TAGS = (0x00080020, 0x00080021, 0x00080022, 0x00080023)
_WANTED = [BaseTag(t) for t in (*_DATE_TAGS, _STUDY_INSTANCE_UID, _SERIES_INSTANCE_UID)]


def _past_series_uid(tag: BaseTag, vr: str | None, length: int) -> bool:
    return int(tag) > _SERIES_INSTANCE_UID


@dataclass(frozen=True)
class InstanceHeader:
    """Where a received instance belongs: its study, series and study-date partition (or None)."""

    study_uid: str
    series_uid: str
    partition_key: str | None
    date_source: str | None  # which attribute gave the date: StudyDate, SeriesDate ...


def read_instance_header(encoded_file: bytes, *, sop_instance_uid: str) -> InstanceHeader:
    """Read study/series UIDs and the partition date from a Part 10 byte string.

    Raises
    ------
    UnreadableInstance
        If the bytes do not parse as DICOM or lack a Study Instance UID.
    """
    try:
        dataset = read_partial(
            BytesIO(encoded_file), stop_when=_past_series_uid, specific_tags=list(_WANTED), force=True
        )
    except Exception as exc:  # pydicom raises many types for broken input
        raise UnreadableInstance(
            f"SOP instance {sop_instance_uid}: dataset could not be parsed ({type(exc).__name__})"
        ) from None
    study_uid = str(dataset.get("StudyInstanceUID", "") or "").strip()
    if not study_uid:
        raise UnreadableInstance(f"SOP instance {sop_instance_uid}: no Study Instance UID")
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
