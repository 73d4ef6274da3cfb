"""Decoding an SR content tree's items into text, codes, numbers and times (any PS3.16 template).

The items come from :mod:`resources.dose.rdsr.content_items` as raw values (bytes, mostly): decoding them
here rather than through pydicom's value conversion is faster and lets an invalid DS survive as text, so
that a reader can keep the event, set the number to ``None`` and say so in a flag. Nothing here knows a
template: the CT reader (TID 10011) uses it, and a projection X-ray reader (TID 10001) would use it alike.

Vendor quirks handled at this level:

* a character set declared as ISO_IR 100 (or none) while the bytes are UTF-8 is decoded as UTF-8 and
  the decoder remembers it (:data:`CHARSET_MISMATCH_FLAG`);
* units spelt differently (``mGycm``, ``mGy.cm``) are normalised (:data:`resources.dose.codes.UNIT_ALIASES`);
* a number with a decimal comma (``"12,5"``) is read as a decimal.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from resources.dose.codes import UNIT_ALIASES, Code
from resources.dose.rdsr.content_items import (
    CODE_VALUE,
    CONCEPT_NAME,
    CONTENT_SEQUENCE,
    LONG_CODE_VALUE,
    MEANING,
    MEASURED_VALUE,
    NUMERIC_VALUE,
    SCHEME,
    UNITS,
    URN_CODE_VALUE,
    VALUE_TYPE,
    Item,
)
from resources.dose.rdsr.value_types import ValueType

_LATIN1_CHARSETS = {"", "ISO_IR 100", "ISO 2022 IR 100", "ISO_IR 6"}
_PYTHON_CODECS = {
    "ISO_IR 100": "latin-1",
    "ISO 2022 IR 100": "latin-1",
    "ISO_IR 192": "utf-8",
    "ISO_IR 6": "ascii",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 148": "iso8859_9",
    "GB18030": "gb18030",
}

CHARSET_MISMATCH_FLAG = "charset_declared_latin1_stored_utf8"


class TextDecoder:
    """Decodes raw text values with the file's declared character set, detecting UTF-8 in latin-1 files."""

    def __init__(self, declared: str) -> None:
        self.declared = declared
        self.codec = _PYTHON_CODECS.get(declared, "latin-1")
        self.may_lie = declared in _LATIN1_CHARSETS
        self.mismatch_seen = False

    def text(self, raw: Any) -> str:
        if isinstance(raw, str):
            if self.may_lie and not raw.isascii():
                # Already decoded (by pydicom) with the declared latin-1: undo it to see the bytes.
                try:
                    return self.text(raw.encode("latin-1"))
                except UnicodeEncodeError:
                    return raw.strip(" \x00")
            return raw.strip(" \x00")
        if not isinstance(raw, bytes | bytearray):
            return str(raw).strip()
        data = bytes(raw).rstrip(b" \x00")
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            pass
        if self.may_lie:
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError:
                return data.decode(self.codec, errors="replace")
            self.mismatch_seen = True
            return value
        return data.decode(self.codec, errors="replace")


def raw_value(item: Item, tag: int) -> Any:
    """The raw value of a non-sequence element, or None."""
    return item.get(tag)


def ascii_value(item: Item, tag: int) -> str | None:
    """A value of an ASCII-only VR (CS, UI, DT, DA): stripped text, or None when absent or empty."""
    value = item.get(tag)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = str(value).strip(" \x00")
    return text or None


def sequence_items(item: Item, tag: int) -> list[Item]:
    """The items of a sequence element (an empty list when absent)."""
    value = item.get(tag)
    return value if isinstance(value, list) else []


def header_value(ds: Dataset, tag: int) -> Any:
    """A top-level attribute's raw value (bytes until pydicom converts it), or None."""
    if tag not in ds:
        return None
    element = ds.get_item(tag)
    return None if element is None else element.value


def header_ascii(ds: Dataset, tag: int) -> str | None:
    """A top-level attribute of an ASCII-only VR as stripped text, or None."""
    value = header_value(ds, tag)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = str(value).strip(" \x00")
    return text or None


_CODE_CACHE: dict[tuple[Any, Any, Any, Any], Code | None] = {}
_CODE_CACHE_LIMIT = 50_000


def code_of(code_item: Item) -> Code | None:
    """The coded concept of a code sequence item (value + upper-case scheme), or None without a value."""
    # Coded concepts repeat across every report: decode each spelling once.
    key = (
        code_item.get(CODE_VALUE),
        code_item.get(LONG_CODE_VALUE),
        code_item.get(URN_CODE_VALUE),
        code_item.get(SCHEME),
    )
    try:
        return _CODE_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable value from an unusual in-memory dataset
        return _decode_code(code_item)
    code = _decode_code(code_item)
    if len(_CODE_CACHE) >= _CODE_CACHE_LIMIT:
        _CODE_CACHE.clear()
    _CODE_CACHE[key] = code
    return code


def _decode_code(code_item: Item) -> Code | None:
    value = (
        ascii_value(code_item, CODE_VALUE)
        or ascii_value(code_item, LONG_CODE_VALUE)
        or ascii_value(code_item, URN_CODE_VALUE)
    )
    scheme = ascii_value(code_item, SCHEME)
    if value is None:
        return None
    return Code(value, (scheme or "").upper())


def first_code(item: Item, tag: int) -> Code | None:
    """The concept of the first item of a code sequence (Concept Name, Concept Code, Units)."""
    seq = sequence_items(item, tag)
    return code_of(seq[0]) if seq else None


def code_meaning(item: Item, tag: int, decoder: TextDecoder) -> str | None:
    """The Code Meaning of the first item of a code sequence, decoded, or None."""
    seq = sequence_items(item, tag)
    if not seq:
        return None
    raw = raw_value(seq[0], MEANING)
    return decoder.text(raw) if raw is not None else None


@dataclass(slots=True)
class ContentNode:
    """One content item: its value type, its concept name and the raw item."""

    value_type: ValueType | None
    concept: Code | None
    item: Item


_VALUE_TYPES: dict[Any, ValueType | None] = {}


def _value_type(item: Item) -> ValueType | None:
    raw = item.get(VALUE_TYPE)
    try:
        return _VALUE_TYPES[raw]
    except KeyError:
        value_type = ValueType.of_text(ascii_value(item, VALUE_TYPE) or "")
        if len(_VALUE_TYPES) < 256:
            _VALUE_TYPES[raw] = value_type
        return value_type
    except TypeError:
        return ValueType.of_text(ascii_value(item, VALUE_TYPE) or "")


def children(item: Item) -> Iterator[ContentNode]:
    """The content items of an item's Content Sequence, in order."""
    for child in sequence_items(item, CONTENT_SEQUENCE):
        names = child.get(CONCEPT_NAME)
        yield ContentNode(_value_type(child), code_of(names[0]) if names else None, child)


@dataclass(slots=True)
class MeasuredNumber:
    """A NUM item's value in its canonical unit; ``value`` None when the text is not a finite number."""

    value: float | None
    unit: str | None
    raw: str


def measured_number(node: ContentNode, decoder: TextDecoder) -> MeasuredNumber | None:
    """A NUM content item's value in its canonical unit; ``None`` when it has no measured value."""
    measured = sequence_items(node.item, MEASURED_VALUE)
    if not measured:
        return None
    raw_number = raw_value(measured[0], NUMERIC_VALUE)
    if raw_number is None:
        return None
    raw = decoder.text(raw_number) if not isinstance(raw_number, int | float) else str(raw_number)
    unit_code = first_code(measured[0], UNITS)
    unit_text = unit_code.value if unit_code else None
    factor = 1.0
    unit: str | None = unit_text
    if unit_text is not None:
        alias = UNIT_ALIASES.get(unit_text.strip().lower())
        if alias is not None:
            unit, factor = alias
    try:
        value = float(raw.replace(",", ".")) if raw.count(",") == 1 and "." not in raw else float(raw)
    except ValueError:
        return MeasuredNumber(None, unit, raw)
    if not math.isfinite(value):
        return MeasuredNumber(None, unit, raw)
    return MeasuredNumber(value * factor, unit, raw)


def invalid_numbers(node: ContentNode, decoder: TextDecoder) -> Iterator[tuple[Code | None, str]]:
    """Every NUM at or under ``node`` whose text is not a number, as ``(concept, raw text)``.

    Used on items a reader does not otherwise read (vendor extras): an invalid number there is still
    worth a flag.
    """
    if node.value_type is ValueType.NUM:
        number = measured_number(node, decoder)
        if number is not None and number.value is None:
            yield node.concept, number.raw
    if CONTENT_SEQUENCE in node.item:
        for child in children(node.item):
            yield from invalid_numbers(child, decoder)


def parse_datetime(text: str | None) -> dt.datetime | None:
    """A DICOM DT value (timezone offsets dropped; the research zone's times are shifted anyway)."""
    if not text:
        return None
    core = text.strip()
    for sign in ("+", "-"):
        if sign in core[8:]:
            core = core[: 8 + core[8:].index(sign)]
    fraction = 0
    if "." in core:
        core, frac = core.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())[:6]
        fraction = int(digits.ljust(6, "0")) if digits else 0
    if len(core) < 8 or not core[:14].isdigit():
        return None
    core = core.ljust(14, "0")
    try:  # int slicing: strptime costs more than the rest of an event together
        return dt.datetime(
            int(core[0:4]),
            int(core[4:6]),
            int(core[6:8]),
            int(core[8:10]),
            int(core[10:12]),
            min(int(core[12:14]), 59),
            fraction,
        )
    except ValueError:
        return None


def parse_date(text: str | None) -> dt.date | None:
    """A DICOM DA value, or None when it is not a valid date."""
    if not text:
        return None
    digits = text.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
