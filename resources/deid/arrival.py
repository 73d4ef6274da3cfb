"""The delay from acquisition to arrival in the lake, and how the instance arrived.

What is carried, and what is not
--------------------------------
The arrival time (``received_at``) lives in the spool index, keyed by identifiable source UIDs. The
warehouse gets only the DELAY in seconds (arrival minus the source acquisition date-time) and the
arrival path, never the arrival timestamp: added to the research copy's shifted acquisition time the
delay gives a shifted arrival time, which tells no more than the shifted dates themselves.

Route to the warehouse: a sidecar per research partition (``_arrival_delays.jsonl``, one line per kept
research copy, keyed by its research-zone SOP Instance UID), written beside ``_phi_findings.jsonl`` and
read by curation the same way. Chosen over a private element of our own in the research file because
a sidecar leaves the research DICOM untouched: the PS3.15 profile (which removes private elements not
on the safe list), the leak check and every consumer of the files stay as they are, and a re-curation
needs no re-de-identification to read it. The file holds numbers and codes only.

The delay rule
--------------
- Acquisition moment, from the SOURCE header before date shifting: Acquisition DateTime (0008,002A),
  else Acquisition Date + Time (0008,0022/0032), else Content Date + Time (0008,0023/0033).
- Its zone: the DT value's own UTC offset suffix (``&ZZXX``) when present, else Timezone Offset From
  UTC (0008,0201), else the site's local zone (``schedule.timezone``): a modality's clock is the
  department's local time, and DICOM date-times carry no zone unless told.
- Arrival: ``received_at`` as the spool index writes it (ISO 8601 in UTC, from the receiving host's
  clock); a value without an offset is read as UTC.
- Nothing is dropped: a missing acquisition time or unreadable arrival gives no delay and a flag; a
  delay below ``-NEGATIVE_TOLERANCE_S`` (a modality clock ahead of the lake's, or a wrong zone) is kept
  and flagged ``negative``; a prospective delay above ``IMPLAUSIBLE_PROSPECTIVE_S`` (a forward that
  cannot be that late, usually a wrong modality clock or a re-send) is kept and flagged
  ``implausible``. A retrieval's delay is as long as the study is old, so it has no upper bound.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydicom.dataset import Dataset

from resources.deid.errors import DeidSettingsError

ARRIVAL_FILE = "_arrival_delays.jsonl"
PROSPECTIVE = "prospective"  # the C-STORE listener: what the PACS or a modality forwards
RETRIEVAL = "retrieval"  # C-MOVE or C-GET from the PACS
_PATH_OF_SOURCE = {"listener": PROSPECTIVE, "pacs": RETRIEVAL}
NEGATIVE_TOLERANCE_S = 0.0
IMPLAUSIBLE_PROSPECTIVE_S = 7 * 86400.0

FLAG_NEGATIVE = "negative"
FLAG_IMPLAUSIBLE = "implausible"
FLAG_NO_ACQUISITION_TIME = "no_acquisition_time"
FLAG_NO_ARRIVAL_TIME = "no_arrival_time"

_DATE_TIME_PAIRS = (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"))
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class SourceMoment:
    """A source acquisition date-time: naive local time and, when the header says so, its UTC offset."""

    local: dt.datetime
    offset: dt.timedelta | None = None


@dataclass(frozen=True)
class ArrivalDelay:
    """Seconds from acquisition to arrival (``None`` when either is unknown), path and flag."""

    delay_s: float | None
    path: str
    flag: str | None = None

    def as_dict(self, research_sop_uid: str) -> dict[str, Any]:
        return {
            "sop_instance_uid": research_sop_uid,
            "arrival_delay_s": self.delay_s,
            "arrival_path": self.path,
            "flag": self.flag,
        }


def arrival_path(source: str) -> str:
    """The arrival path a spool record's ``source`` stands for (an unknown source keeps its name)."""
    return _PATH_OF_SOURCE.get(source, source[:16] or "unknown")


def local_zone(name: str) -> dt.tzinfo:
    """The site zone for header times without an offset.

    Raises
    ------
    DeidSettingsError
        If ``name`` is not an IANA zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeidSettingsError(f"schedule.timezone: {name!r} is not an IANA time zone") from exc


def _offset(text: str) -> dt.timedelta | None:
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def _parse(date: str, time_of_day: str) -> dt.datetime | None:
    """``YYYYMMDD`` and ``HHMMSS.FFFFFF`` (any precision from ``HH``; colons tolerated) as naive."""
    date = date.strip()
    clock, _, fraction = time_of_day.strip().replace(":", "").partition(".")
    if len(date) != 8 or not _DIGITS.match(date) or not clock or not _DIGITS.match(clock):
        return None
    if len(clock) % 2 or len(clock) > 6 or (fraction and not _DIGITS.match(fraction)):
        return None
    clock = clock.ljust(6, "0")
    try:
        moment = dt.datetime(
            int(date[:4]), int(date[4:6]), int(date[6:]), int(clock[:2]), int(clock[2:4]), int(clock[4:])
        )
    except ValueError:
        return None
    return moment + dt.timedelta(microseconds=int(fraction[:6].ljust(6, "0"))) if fraction else moment


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def source_moment(ds: Dataset) -> SourceMoment | None:
    """The acquisition moment of a SOURCE header (read before any date shift), ``None`` without one."""
    zone_offset = _offset(_text(ds, "TimezoneOffsetFromUTC"))
    value = _text(ds, "AcquisitionDateTime")
    if value:
        body, own_offset = value, None
        for sign in "+-":
            if sign in value[8:]:
                cut = value.index(sign, 8)
                body, own_offset = value[:cut], _offset(value[cut:])
        # A date-only value says nothing of the time of day: the next attributes may.
        moment = _parse(body[:8], body[8:]) if body[8:] else None
        if moment is not None:
            return SourceMoment(moment, own_offset if own_offset is not None else zone_offset)
    for date_keyword, time_keyword in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("ContentDate", "ContentTime"),
    ):
        date, time_of_day = _text(ds, date_keyword), _text(ds, time_keyword)
        if date and time_of_day:
            moment = _parse(date, time_of_day)
            if moment is not None:
                return SourceMoment(moment, zone_offset)
    return None


def _received(received_at: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(received_at.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def arrival_delay(
    received_at: str, acquired: SourceMoment | None, source: str, zone: dt.tzinfo
) -> ArrivalDelay:
    """The delay rule of this module for one spool record and its source header's moment."""
    path = arrival_path(source)
    if acquired is None:
        return ArrivalDelay(None, path, FLAG_NO_ACQUISITION_TIME)
    arrived = _received(received_at)
    if arrived is None:
        return ArrivalDelay(None, path, FLAG_NO_ARRIVAL_TIME)
    if acquired.offset is not None:
        start = acquired.local.replace(tzinfo=dt.timezone(acquired.offset))
    else:
        start = acquired.local.replace(tzinfo=zone)
    delay = round((arrived - start).total_seconds(), 3)
    flag = None
    if delay < -NEGATIVE_TOLERANCE_S:
        flag = FLAG_NEGATIVE
    elif path == PROSPECTIVE and delay > IMPLAUSIBLE_PROSPECTIVE_S:
        flag = FLAG_IMPLAUSIBLE
    return ArrivalDelay(delay, path, flag)


def write_arrivals(path: Path, rows: Iterable[tuple[str, ArrivalDelay]]) -> None:
    """The partition's sidecar: one JSON line per (research SOP Instance UID, delay)."""
    with path.open("w", encoding="utf-8") as out:
        for research_uid, delay in rows:
            out.write(json.dumps(delay.as_dict(research_uid)) + "\n")
