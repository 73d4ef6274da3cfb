"""A lean view of an SR content tree: each item a ``dict`` of tag -> raw value or list of items.

pydicom builds a full ``Dataset`` for every sequence item it touches, which for a dose SR (hundreds of
small items) costs many times the file read itself. The content tree is read here straight from the raw
bytes pydicom leaves unparsed after ``dcmread``: little-endian explicit or implicit VR, defined or
undefined lengths. Only the attributes the dose reader uses are kept (as bytes); other elements are
skipped by their length. Anything else (big endian, deflated, datasets built in memory) goes through
:func:`item_from_dataset`, which walks an ordinary pydicom ``Dataset``.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from resources.dose.errors import DoseError

Item = dict[int, Any]

VALUE_TYPE = 0x0040A040
CONCEPT_NAME = 0x0040A043
CONCEPT_CODE = 0x0040A168
CODE_VALUE = 0x00080100
SCHEME = 0x00080102
MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
URN_CODE_VALUE = 0x00080120
TEXT_VALUE = 0x0040A160
UID_VALUE = 0x0040A124
DATETIME_VALUE = 0x0040A120
MEASURED_VALUE = 0x0040A300
NUMERIC_VALUE = 0x0040A30A
UNITS = 0x004008EA
CONTENT_SEQUENCE = 0x0040A730

WANTED_VALUES = frozenset(
    {
        VALUE_TYPE,
        CODE_VALUE,
        SCHEME,
        MEANING,
        LONG_CODE_VALUE,
        URN_CODE_VALUE,
        TEXT_VALUE,
        UID_VALUE,
        DATETIME_VALUE,
        NUMERIC_VALUE,
    }
)
WANTED_SEQUENCES = frozenset({CONCEPT_NAME, CONCEPT_CODE, MEASURED_VALUE, UNITS, CONTENT_SEQUENCE})

_UNDEFINED = 0xFFFFFFFF
_ITEM_END = 0xFFFEE00D
_LONG_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}
)
_HEADER_LONG = struct.Struct("<HHI").unpack_from
_HEADER_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_U32 = struct.Struct("<I").unpack_from
_implicit_sq_cache: dict[int, bool] = {}
_CODE_SEQUENCES = frozenset({CONCEPT_NAME, CONCEPT_CODE, UNITS})
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_EXPLICIT_CODE_CACHE: dict[bytes, list[Item]] = {}
_IMPLICIT_CODE_CACHE: dict[bytes, list[Item]] = {}
_CODE_CACHE_LIMIT = 20_000
_SMALL_ITEM = 320
_EXPLICIT_ITEM_CACHE: dict[bytes, Item] = {}
_IMPLICIT_ITEM_CACHE: dict[bytes, Item] = {}
_ITEM_CACHE_LIMIT = 50_000
# What pydicom raises while parsing damaged bytes, at dcmread or lazily on first access: no tag where
# one should be, a short read, a value length that is no multiple of its VR's size, an unknown VR.
PYDICOM_READ_ERRORS = (OSError, EOFError, ValueError, struct.error, BytesLengthException, NotImplementedError)
# dcmread also raises TypeError, for a Specific Character Set whose damaged VR made it a number.
PYDICOM_DCMREAD_ERRORS = (InvalidDicomError, TypeError, *PYDICOM_READ_ERRORS)


class ContentTreeFormatError(DoseError, ValueError):
    """The raw bytes of a sequence are not a well-formed DICOM sequence (the reader names the file)."""


def _is_sequence_tag(tag: int) -> bool:
    known = _implicit_sq_cache.get(tag)
    if known is None:
        try:
            known = dictionary_VR(tag) == "SQ"
        except KeyError:
            known = False
        _implicit_sq_cache[tag] = known
    return known


def parse_sequence(buf: bytes, start: int, end: int | None, implicit: bool) -> tuple[list[Item], int]:
    """The items of a sequence value starting at ``start`` (``end`` None: undefined length).

    Raises
    ------
    ContentTreeFormatError
        When the bytes do not hold sequence items.
    """
    items: list[Item] = []
    pos = start
    limit = len(buf) if end is None else end
    while pos + 8 <= limit:
        group, element, length = _HEADER_LONG(buf, pos)
        pos += 8
        if group == 0xFFFE and element == 0xE0DD:  # sequence delimiter
            return items, pos
        if group != 0xFFFE or element != 0xE000:
            raise ContentTreeFormatError(
                f"expected a sequence item at byte {pos - 8}, found ({group:04X},{element:04X})"
            )
        if length == _UNDEFINED:
            item, pos = parse_item(buf, pos, None, implicit)
        elif length <= _SMALL_ITEM:
            # Small items (a code, a kVp, a phantom type) recur byte for byte across reports.
            cache = _IMPLICIT_ITEM_CACHE if implicit else _EXPLICIT_ITEM_CACHE
            key = buf[pos : pos + length]
            cached = cache.get(key)
            if cached is None:
                cached = parse_item(buf, pos, pos + length, implicit)[0]
                if len(cache) < _ITEM_CACHE_LIMIT:
                    cache[key] = cached
            item = cached
            pos += length
        else:
            item = parse_item(buf, pos, pos + length, implicit)[0]
            pos += length
        items.append(item)
    if end is None:
        raise ContentTreeFormatError("sequence of undefined length has no delimiter")
    return items, pos


def parse_item(buf: bytes, start: int, end: int | None, implicit: bool) -> tuple[Item, int]:
    """One item's wanted elements (``end`` None: undefined length, ends at the item delimiter).

    Raises
    ------
    ContentTreeFormatError
        When an element runs past the end of the data.
    """
    item: Item = {}
    pos = start
    size = len(buf)
    limit = size if end is None else end
    wanted_values = WANTED_VALUES
    wanted_sequences = WANTED_SEQUENCES
    long_vrs = _LONG_VRS
    while pos + 8 <= limit:
        if implicit:
            group, element, length = _HEADER_LONG(buf, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                return item, pos + 8
            pos += 8
            is_sequence = length == _UNDEFINED or _is_sequence_tag(tag)
        else:
            group, element, vr, length = _HEADER_EXPLICIT(buf, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                return item, pos + 8
            if vr in long_vrs:
                length = _U32(buf, pos + 8)[0]
                pos += 12
                is_sequence = vr == b"SQ" or (vr == b"UN" and length == _UNDEFINED)
            else:
                pos += 8
                is_sequence = False
        if is_sequence:
            if tag in _CODE_SEQUENCES:
                value, pos = _code_sequence(buf, pos, length, implicit)
                item[tag] = value
                continue
            if length == _UNDEFINED:
                value, pos = parse_sequence(buf, pos, None, implicit)
                if tag in wanted_sequences:
                    item[tag] = value
                continue
            if tag in wanted_sequences:
                item[tag] = parse_sequence(buf, pos, pos + length, implicit)[0]
            pos += length
            continue
        if tag in wanted_values:
            if length == _UNDEFINED or pos + length > size:
                raise ContentTreeFormatError(f"element ({group:04X},{element:04X}) runs past the data")
            item[tag] = buf[pos : pos + length]
        elif length == _UNDEFINED:
            raise ContentTreeFormatError(f"element ({group:04X},{element:04X}) has an undefined length")
        pos += length
    if end is None:
        raise ContentTreeFormatError("item of undefined length has no delimiter")
    return item, pos


def _code_sequence(buf: bytes, pos: int, length: int, implicit: bool) -> tuple[list[Item], int]:
    """A code sequence, from a cache keyed by its exact bytes: the same concepts recur in every report.

    Identical bytes parse identically, so a hit is only ever a sequence parsed (and checked) before.
    The parsed items are shared between reports and must not be modified.
    """
    cache = _IMPLICIT_CODE_CACHE if implicit else _EXPLICIT_CODE_CACHE
    if length == _UNDEFINED:
        # Code items hold no nested sequences: the first sequence delimiter ends this sequence.
        stop = buf.find(_SEQUENCE_DELIMITER, pos)
        key = buf[pos:stop] if stop >= 0 else None
        if key is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit, stop + 8
        value, end = parse_sequence(buf, pos, None, implicit)
        if key is not None and end == stop + 8 and len(cache) < _CODE_CACHE_LIMIT:
            cache[key] = value
        return value, end
    key = buf[pos : pos + length]
    hit = cache.get(key)
    if hit is None:
        hit = parse_sequence(buf, pos, pos + length, implicit)[0]
        if len(cache) < _CODE_CACHE_LIMIT:
            cache[key] = hit
    return hit, pos + length


def _value_of(value: Any) -> Any:
    if isinstance(value, list | tuple) and not isinstance(value, str | bytes):
        return "\\".join(str(v) for v in value)
    return value


def item_from_dataset(ds: Dataset) -> Item:
    """The slow path: an ordinary (already parsed, or in-memory) dataset as an item.

    Raises
    ------
    ContentTreeFormatError
        When an element that must be a sequence is not one (its VR was damaged).
    """
    item: Item = {}
    for tag in list(ds.keys()):
        tag_int = int(tag)
        if tag_int in WANTED_SEQUENCES:
            sequence = ds[tag]
            if sequence.VR != "SQ":
                raise ContentTreeFormatError(
                    f"({tag_int >> 16:04X},{tag_int & 0xFFFF:04X}) is not a sequence"
                )
            item[tag_int] = [item_from_dataset(child) for child in (sequence.value or [])]
        elif tag_int in WANTED_VALUES:
            element = ds.get_item(tag)
            item[tag_int] = _value_of(element.value if element is not None else None)
    return item


def sequence_of(ds: Dataset, tag: int) -> list[Item]:
    """A top-level sequence of a dataset as items, from its raw bytes when pydicom has not parsed it.

    Raises
    ------
    ContentTreeFormatError
        When neither the raw reading nor pydicom can read the sequence (truncated or damaged bytes).
    """
    if tag not in ds:
        return []
    try:
        element = ds.get_item(tag)
        if (
            isinstance(element, RawDataElement)
            and isinstance(element.value, bytes)
            and element.is_little_endian
        ):
            try:
                return parse_sequence(element.value, 0, len(element.value), element.is_implicit_VR)[0]
            except (ContentTreeFormatError, struct.error):
                pass  # let pydicom try: it may know better
        return [item_from_dataset(child) for child in (ds[tag].value or [])]
    except PYDICOM_READ_ERRORS as exc:
        # pydicom parses an element on first access, so damaged bytes surface here, as its own errors.
        raise ContentTreeFormatError(
            f"sequence ({tag >> 16:04X},{tag & 0xFFFF:04X}) cannot be read ({type(exc).__name__})"
        ) from exc
