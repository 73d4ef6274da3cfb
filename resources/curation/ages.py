"""Patient age at the study: from Patient's Age (0010,1010) or from (shifted) birth and study dates.

De-identification shifts every date of a patient by the same offset, so the difference between the
shifted birth date and the shifted study date is still the true age. Only age bands leave the
warehouse's patient table; the age in years stays on the study for dose factor selection.
"""

from __future__ import annotations

import datetime as dt
import re

_AGE_STRING = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_DAYS_PER_UNIT = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def age_from_age_string(value: str | None) -> float | None:
    """Years from an AS value such as ``"045Y"``, ``"006M"``, ``"002W"``, ``"010D"``; None if malformed."""
    if not value:
        return None
    match = _AGE_STRING.match(str(value))
    if not match:
        return None
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2).upper()]


def age_from_dates(birth: dt.date | None, at: dt.date | None) -> float | None:
    """Age in years between two dates (None when either is missing)."""
    if birth is None or at is None:
        return None
    return (at - birth).days / 365.25


def patient_age(
    age_string: str | None, birth: dt.date | None, study_date: dt.date | None
) -> tuple[float | None, str | None]:
    """The age in years and where it came from (``"patient_age"`` or ``"dates"``)."""
    from_string = age_from_age_string(age_string)
    if from_string is not None:
        return round(from_string, 3), "patient_age"
    from_dates = age_from_dates(birth, study_date)
    if from_dates is not None:
        return round(from_dates, 3), "dates"
    return None, None


def age_band(age_years: float | None) -> str | None:
    """Ten-year bands (``"40-49"``), finer for children (``"0"``, ``"1-4"``, ``"5-9"``, ``"10-14"``,
    ``"15-17"``) because dose factors change fastest there; ``"90+"`` at the top."""
    if age_years is None or age_years < 0:
        return None
    if age_years < 1:
        return "0"
    if age_years < 5:
        return "1-4"
    if age_years < 10:
        return "5-9"
    if age_years < 15:
        return "10-14"
    if age_years < 18:
        return "15-17"
    if age_years < 20:
        return "18-19"
    if age_years >= 90:
        return "90+"
    low = int(age_years // 10) * 10
    return f"{low}-{low + 9}"
