"""Mutations of real DICOM files as hypothesis strategies: truncations, byte flips, huge length fields.

A strategy draws a :class:`Recipe` (which seed file, which steps), plain data that hypothesis prints
in a falsifying example and that an ``@example(recipe=Recipe(...))`` replays; :func:`apply` turns it
into bytes with the seed files of a test's fixture. Positions are drawn large and taken modulo the
current size, so a recipe means the same thing whatever the seed. Length fields are found by a light
scan of the seed (:func:`length_field_offsets`) so that "set a length to 4 GB" hits real element,
item and meta-group lengths rather than random offsets only.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hypothesis import strategies as st

# Value representations whose explicit-VR length field is 4 bytes after 2 reserved ones (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UR", b"UT", b"UN", b"SV", b"UV"}
)
_SHORT_VRS = frozenset(
    vr.encode()
    for vr in "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split()  # noqa: SIM905
)
_ITEM_TAGS = (b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0")
# Lengths an attacker or a broken writer declares: undefined, 4 GB - 2, 2 GB, 16 MB.
HUGE_LENGTHS_32 = (0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0x00FFFFFF)
HUGE_LENGTHS_16 = (0xFFFF, 0xFFFE, 0x8000, 0x7FFF)
_POSITIONS = st.integers(0, 1 << 24)


@dataclass(frozen=True)
class LengthField:
    """Where a length field is in a seed file and how wide it is (2 or 4 bytes, little endian)."""

    offset: int
    width: int


def length_field_offsets(data: bytes) -> tuple[LengthField, ...]:
    """Positions of (probable) length fields: explicit-VR element headers and item headers.

    A heuristic scan (two capital letters of a known VR after four bytes of tag), good enough to aim
    mutations at lengths: it is not a parser and need not be exact.
    """
    fields: list[LengthField] = []
    for offset in range(0, len(data) - 8):
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_VRS and data[offset + 6 : offset + 8] == b"\0\0" and offset + 12 <= len(data):
            fields.append(LengthField(offset + 8, 4))
        elif vr in _SHORT_VRS:
            fields.append(LengthField(offset + 6, 2))
        elif data[offset : offset + 4] in _ITEM_TAGS:
            fields.append(LengthField(offset + 4, 4))
    return tuple(fields)


class Step(NamedTuple):
    """One mutation: ``kind``, a position (modulo the size; for lengths, which length field) and a value.

    Kinds: ``truncate``; ``flip`` (value: the bit); ``overwrite`` and ``insert`` (value: the bytes);
    ``delete`` and ``duplicate`` (value: how many bytes); ``length`` (value: the new length, taken
    modulo the field's width); ``nudge_length`` (value: added to the length).
    """

    kind: str
    at: int
    value: int | bytes = 0


class Recipe(NamedTuple):
    """Which seed file and what is done to it, in order."""

    seed: str
    steps: tuple[Step, ...]


class SeedFiles(dict[str, bytes]):
    """Seed files by name; printed as their names (a falsifying example lists its arguments)."""

    def __repr__(self) -> str:
        return f"SeedFiles({sorted(self)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's pretty printer
        printer.text(repr(self))


_length_cache: dict[tuple[str, int], tuple[LengthField, ...]] = {}


def _lengths_of(name: str, data: bytes) -> tuple[LengthField, ...]:
    key = (name, len(data))
    if key not in _length_cache:
        _length_cache[key] = length_field_offsets(data)
    return _length_cache[key]


def apply(recipe: Recipe, seeds: Mapping[str, bytes]) -> bytes:
    """The bytes of ``recipe``: its seed from ``seeds`` with its steps applied in order."""
    seed = seeds[recipe.seed]
    lengths = _lengths_of(recipe.seed, seed)
    data = bytearray(seed)
    for kind, at, value in recipe.steps:
        if not data:
            break
        position = at % len(data)
        if kind == "truncate":
            del data[position:]
        elif kind == "flip":
            data[position] ^= 1 << (int(value) % 8)
        elif kind == "overwrite":
            data[position : position + len(bytes(value))] = bytes(value)
        elif kind == "insert":
            data[position:position] = bytes(value)
        elif kind == "delete":
            del data[position : position + int(value)]
        elif kind == "duplicate":
            data[position:position] = data[position : position + int(value)]
        elif kind in ("length", "nudge_length") and lengths:
            field = lengths[at % len(lengths)]
            if field.offset + field.width > len(data):
                continue
            fmt = "<I" if field.width == 4 else "<H"
            current = struct.unpack_from(fmt, data, field.offset)[0]
            new = int(value) if kind == "length" else current + int(value)
            struct.pack_into(fmt, data, field.offset, new % (1 << (8 * field.width)))
    return bytes(data)


_steps = st.one_of(
    st.builds(Step, st.just("truncate"), _POSITIONS),
    st.builds(Step, st.just("flip"), _POSITIONS, st.integers(0, 7)),
    st.builds(Step, st.just("overwrite"), _POSITIONS, st.binary(min_size=1, max_size=8)),
    st.builds(Step, st.just("insert"), _POSITIONS, st.binary(min_size=1, max_size=32)),
    st.builds(Step, st.just("delete"), _POSITIONS, st.integers(1, 64)),
    st.builds(Step, st.just("duplicate"), _POSITIONS, st.integers(1, 256)),
    st.builds(Step, st.just("length"), _POSITIONS, st.sampled_from(HUGE_LENGTHS_32 + HUGE_LENGTHS_16)),
    st.builds(Step, st.just("length"), _POSITIONS, st.sampled_from(HUGE_LENGTHS_32)),
    st.builds(Step, st.just("nudge_length"), _POSITIONS, st.integers(-8, 8)),
)


def recipes(seed_names: Sequence[str], max_steps: int = 4) -> st.SearchStrategy[Recipe]:
    """Recipes over ``seed_names`` with 1 to ``max_steps`` mutations."""
    return st.builds(
        Recipe,
        st.sampled_from(sorted(seed_names)),
        st.lists(_steps, min_size=1, max_size=max_steps).map(tuple),
    )
