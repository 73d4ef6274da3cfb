"""NUM items of the projection X-ray templates in one unit per quantity, with every vendor quirk flagged.

Each quantity the reader keeps has a canonical unit (the one PS3.16 TID 10001-10007 prescribes, or the
one a field's name states): DAP in Gy.m2, dose at the reference point in Gy, AGD and entrance exposure
in mGy, times in s or ms as the field is named, lengths in mm, areas in m2. A value in another
spelling or unit is converted and, when the unit is not the standard's, flagged:

* ``dose_rp_in_mgy`` / ``nonstandard_unit:<name>:<unit>``: dose at RP sent in mGy (Canon Ultimax-i),
  DAP sent in dGy.cm2 (the same), lengths in cm; the value is converted, never left as sent;
* ``unknown_unit:<name>:<unit>``: a unit with no known factor: the value is ``None``, the raw text kept;
* ``empty_value:<name>``: a dose item with an empty Measured Value Sequence (Canon CXDI without a DAP
  meter): the value is absent, not zero;
* ``several_values:<name>:<n>``: one NUM item holding n values (Eurocolumbus writes per-pulse kVp, mA and
  pulse width into one item): the mean of the non-zero values is kept (a zero pulse exposed nothing);
* ``decimal_in_integer:<name>``: a count written as a decimal (GE's "0.00" radiographic frames): kept as
  the integer when the fraction is zero, else as read and flagged ``invalid_number``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from resources.dose.rdsr.content_items import CODE_VALUE, MEASURED_VALUE, NUMERIC_VALUE, UNITS, Item
from resources.dose.rdsr.content_tree import ContentNode, TextDecoder, first_code

# Canonical unit -> {unit as written, lower case: factor to the canonical unit}.
_FACTORS: dict[str, dict[str, float]] = {
    "Gy.m2": {
        "gy.m2": 1.0,
        "gym2": 1.0,
        "gy.m^2": 1.0,
        "gy*m2": 1.0,
        "dgy.cm2": 1e-5,
        "dgycm2": 1e-5,
        "cgy.cm2": 1e-6,
        "gy.cm2": 1e-4,
        "gy.cm^2": 1e-4,
        "gycm2": 1e-4,
        "mgy.cm2": 1e-7,
        "ugy.m2": 1e-6,
        "ugy.cm2": 1e-10,
    },
    "Gy": {"gy": 1.0, "mgy": 1e-3, "ugy": 1e-6},
    "mGy": {"mgy": 1.0, "gy": 1e3, "ugy": 1e-3},
    "s": {"s": 1.0, "ms": 1e-3, "min": 60.0},
    "ms": {"ms": 1.0, "s": 1e3, "us": 1e-3},
    "mm": {"mm": 1.0, "cm": 10.0, "m": 1000.0},
    "m2": {"m2": 1.0, "cm2": 1e-4, "mm2": 1e-6, "m^2": 1.0},
    "mm2": {"mm2": 1.0, "cm2": 100.0, "m2": 1e6},
    "kV": {"kv": 1.0},
    "mA": {"ma": 1.0, "ua": 1e-3},
    "uAs": {"uas": 1.0, "ua.s": 1.0, "mas": 1000.0, "ma.s": 1000.0},
    "N": {"n": 1.0, "dan": 10.0},
    "kPa": {"kpa": 1.0, "pa": 1e-3},
    "deg": {"deg": 1.0, "°": 1.0},
    "/s": {"{pulse}/s": 1.0, "/s": 1.0, "pulse/s": 1.0, "1/s": 1.0, "hz": 1.0, "{pulses}/s": 1.0},
    "1": {"1": 1.0, "{pulses}": 1.0, "{pulse}": 1.0, "{frames}": 1.0, "{ratio}": 1.0, "no units": 1.0},
}
# The spellings PS3.16 uses (case as written in UCUM); any other accepted spelling is flagged.
_STANDARD = {
    "Gy.m2": {"Gy.m2"},
    "Gy": {"Gy"},
    "mGy": {"mGy"},
    "s": {"s"},
    "ms": {"ms"},
    "mm": {"mm"},
    "m2": {"m2"},
    "mm2": {"mm2"},
    "kV": {"kV"},
    "mA": {"mA"},
    "uAs": {"uA.s", "uAs"},
    "N": {"N"},
    "kPa": {"kPa"},
    "deg": {"deg"},
    "/s": {"{pulse}/s", "/s"},
    "1": {"1", "{pulses}", "{pulse}"},
}
# Spellings that are the standard's unit written without the dot: converted without a flag.
_SPELLINGS = {"Gym2", "uAs", "pulse/s"}


@dataclass
class NumberCollector:
    """Reads NUM items into canonical units; records flags and raw invalid texts as it goes."""

    decoder: TextDecoder
    prefix: str = ""
    values: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)

    def read(self, name: str, node: ContentNode, unit: str, *, dose: bool = False) -> float | None:
        """Keep the item's value under ``name`` in ``unit``; None (and a flag) when it has none."""
        measured: list[Item] | None = node.item.get(MEASURED_VALUE)
        raw_number = measured[0].get(NUMERIC_VALUE) if measured else None
        if raw_number is None or not measured:
            if dose:
                self.flags.append(f"empty_value:{self.prefix}{name}")
            return None
        parsed = _parsed(raw_number, measured[0], self.decoder)
        if parsed.value is None:
            self.invalid[f"{self.prefix}{name}"] = parsed.raw
            self.flags.append(f"invalid_number:{self.prefix}{name}")
            return None
        if parsed.count > 1:
            self.flags.append(f"several_values:{self.prefix}{name}:{parsed.count}")
        factor = self._factor(name, parsed.unit, unit)
        if factor is None:
            self.invalid[f"{self.prefix}{name}"] = parsed.raw
            return None
        self.values[name] = parsed.value * factor
        return parsed.value * factor

    def _factor(self, name: str, written: str | None, unit: str) -> float | None:
        if written is None:
            return 1.0  # no units sequence: the standard's unit is the only reading
        factor = _FACTORS[unit].get(written.lower())
        if factor is None:
            self.flags.append(f"unknown_unit:{self.prefix}{name}:{written}")
            return None
        if written not in _STANDARD[unit] and written not in _SPELLINGS:
            if unit == "Gy" and written.lower() == "mgy":
                self.flags.append(f"dose_rp_in_mgy:{self.prefix}{name}")
            else:
                self.flags.append(f"nonstandard_unit:{self.prefix}{name}:{written}")
        return factor

    def count(self, name: str, node: ContentNode) -> int | None:
        """A count (pulses, frames): an integer; a decimal with a zero fraction is kept and flagged."""
        value = self.read(name, node, "1")
        if value is None:
            return None
        measured = node.item[MEASURED_VALUE][0]
        text = _parsed(measured[NUMERIC_VALUE], measured, self.decoder).raw
        if "." in text or "e" in text.lower():
            self.flags.append(f"decimal_in_integer:{self.prefix}{name}")
        if value != int(value):
            self.invalid[f"{self.prefix}{name}"] = text
            self.flags.append(f"invalid_number:{self.prefix}{name}")
            self.values.pop(name, None)
            return None
        self.values[name] = float(int(value))
        return int(value)

    def get(self, name: str) -> float | None:
        return self.values.get(name)


@dataclass(frozen=True, slots=True)
class _Parsed:
    value: float | None  # the number, the mean of the non-zero ones for several; None: not a number
    count: int
    raw: str
    unit: str | None  # the unit as written


# The same numbers in the same units recur across events and reports: parse each spelling once.
_PARSED: dict[tuple[Any, Any], _Parsed] = {}
_PARSED_LIMIT = 50_000


def _parsed(raw_number: Any, measured: Item, decoder: TextDecoder) -> _Parsed:
    units = measured.get(UNITS)
    unit_raw = units[0].get(CODE_VALUE) if units else None
    key = (raw_number, unit_raw)
    try:
        hit = _PARSED.get(key)
    except TypeError:  # an unhashable value from an in-memory dataset
        hit, key = None, None  # type: ignore[assignment]
    if hit is not None:
        return hit
    raw = decoder.text(raw_number) if not isinstance(raw_number, int | float) else str(raw_number)
    parts = [p.strip() for p in raw.split("\\") if p.strip()]
    numbers = [_number(p) for p in parts]
    value: float | None
    if not parts or any(n is None for n in numbers):
        value = None
    else:
        values = [n for n in numbers if n is not None]
        nonzero = [v for v in values if v != 0.0] or values
        value = values[0] if len(values) == 1 else math.fsum(nonzero) / len(nonzero)
    unit_code = first_code(measured, UNITS)
    parsed = _Parsed(value, len(parts), raw, unit_code.value.strip() if unit_code else None)
    if key is not None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
