"""Unit normalisation for dose and exposure values read from image headers.

Image headers store mammography Organ Dose (0040,0316) in dGy; the warehouse stores mGy. Exposure
(0018,1152) is mAs, Exposure in uAs (0018,1153) is micro-ampere-seconds; when both are missing the
product of tube current (mA) and exposure time (ms) gives mAs.
"""

from __future__ import annotations

import math
from typing import Any

_TO_MGY = {"gy": 1000.0, "dgy": 100.0, "cgy": 10.0, "mgy": 1.0, "ugy": 0.001, "µgy": 0.001}


def as_float(value: Any) -> float | None:
    """A header value as a float: None for empty, non-numeric ("10.50/ 15.00") or non-finite values."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
        if value is None:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dose_to_mgy(value: float | None, unit: str) -> float | None:
    """Convert an absorbed dose to mGy.

    Raises
    ------
    ValueError
        If ``unit`` is not a known dose unit.
    """
    if value is None:
        return None
    factor = _TO_MGY.get(unit.strip().lower())
    if factor is None:
        raise ValueError(f"unknown dose unit {unit!r}")
    return value * factor


def exposure_mas(
    exposure_mas_value: Any = None,
    exposure_uas_value: Any = None,
    tube_current_ma: Any = None,
    exposure_time_ms: Any = None,
) -> float | None:
    """The exposure in mAs from whichever header fields are present (best source first)."""
    mas = as_float(exposure_mas_value)
    if mas is not None:
        return mas
    uas = as_float(exposure_uas_value)
    if uas is not None:
        return uas / 1000.0
    current, time_ms = as_float(tube_current_ma), as_float(exposure_time_ms)
    if current is not None and time_ms is not None:
        return current * time_ms / 1000.0
    return None
