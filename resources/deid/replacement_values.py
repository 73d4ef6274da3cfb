"""The values written in place of source values: dummies by VR (action D) and shifted dates.

A dummy keeps an object valid where its IOD requires a value; dates are shifted by the patient's
whole-day offset under Retain Longitudinal Temporal Information Modified Dates.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement

from resources.deid.element_values import as_list
from resources.deid.pseudonyms import Pseudonymiser, shift_da, shift_dt

DUMMY_BY_VR = {
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000D",
    "DS": "0",
    "IS": "0",
}
_BINARY_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD"})


def shift_dates(elem: DataElement, days: int) -> None:
    """Shift every DA or DT value of ``elem`` back by ``days``; an unparseable date empties the element."""
    values = as_list(elem.value)
    if not values:
        return
    shift = shift_da if elem.VR == "DA" else shift_dt
    out = [shift(str(v), days) for v in values]
    kept = [v for v in out if v]
    if len(kept) != len(out):
        elem.value = None  # an unparseable date cannot be shifted, so it is not kept
    else:
        elem.value = kept if len(kept) > 1 else kept[0]


def shifted_dates(values: list[str], vr: str, days: int) -> str | list[str] | None:
    """``values`` (DA or DT) shifted back by ``days`` as :func:`shift_dates` sets them; None if one cannot."""
    shift = shift_da if vr == "DA" else shift_dt
    out = [shift(v, days) for v in values]
    kept = [v for v in out if v]
    if len(kept) != len(out):
        return None  # an unparseable date cannot be shifted, so it is not kept
    return kept if len(kept) > 1 else kept[0]


def replace_with_dummy(elem: DataElement, pseudonyms: Pseudonymiser) -> None:
    """Action D: a valid placeholder of the element's VR (a consistent new UID for a UI value)."""
    if elem.VR == "UI":
        elem.value = pseudonyms.uid(str(elem.value)) if elem.value else None
    elif elem.VR in DUMMY_BY_VR:
        elem.value = DUMMY_BY_VR[elem.VR]
    elif elem.VR in _BINARY_NUMBER_VRS:
        elem.value = 0
    else:
        elem.value = None
