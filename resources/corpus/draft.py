"""A light, write-only stand-in for ``pydicom.Dataset`` used while building corpus instances.

Building a pydicom Dataset costs tens of microseconds per element (keyword lookup, value conversion,
validation), which dominated generation time. The builders fill a ``DraftDataset`` instead - same
``ds.Keyword = value`` style, values given exactly as they are to be written (strings for DS/IS) -
which becomes either a real ``pydicom.Dataset`` (``to_dataset``, for ``iter_corpus``) or Explicit VR
Little Endian bytes directly (``encode``, for ``generate_corpus``). A test checks that both give the
same bytes.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from resources.errors import DicomLakeError

# VRs whose Explicit VR header has a 4-byte length (PS3.5 7.1.2).
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)
BINARY_FORMATS = {"US": "<H", "SS": "<h", "UL": "<L", "SL": "<l", "FD": "<d", "FL": "<f"}
ITEM_TAG = struct.pack("<HH", 0xFFFE, 0xE000)
EncodedElements = list[tuple[int, bytes]]


class DraftError(DicomLakeError, ValueError):
    """A keyword or value the draft cannot represent."""


@cache
def keyword_entry(keyword: str) -> tuple[int, str]:
    """(tag, VR) of a DICOM keyword.

    Raises
    ------
    DraftError
        If the keyword is unknown or its VR is ambiguous (use ``add_new`` with an explicit VR).
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise DraftError(f"unknown DICOM keyword {keyword!r}")
    vr = dictionary_VR(tag)
    if len(vr) != 2:
        raise DraftError(f"{keyword} has an ambiguous VR ({vr}); use add_new with an explicit VR")
    return int(tag), vr


class PrivateBlockDraft:
    """Elements of one private creator's block (PS3.5 7.8.1)."""

    def __init__(self, draft: DraftDataset, group: int, slot: int) -> None:
        self._draft = draft
        self._base = (group << 16) | (slot << 8)

    def add_new(self, offset: int, vr: str, value: Any) -> None:
        self._draft.add_new(self._base | offset, vr, value)


class DraftDataset:
    """Elements by tag as (VR, value); sequence values are lists of ``DraftDataset``."""

    __slots__ = ("_elements",)

    def __init__(self) -> None:
        object.__setattr__(self, "_elements", {})

    def __setattr__(self, keyword: str, value: Any) -> None:
        tag, vr = keyword_entry(keyword)
        self._elements[tag] = (vr, value)

    def __getattr__(self, keyword: str) -> Any:
        try:
            tag, _ = keyword_entry(keyword)
            return self._elements[tag][1]
        except (KeyError, DraftError) as exc:
            raise AttributeError(keyword) from exc

    def __delattr__(self, keyword: str) -> None:
        tag, _ = keyword_entry(keyword)
        del self._elements[tag]

    def __contains__(self, keyword: object) -> bool:
        if isinstance(keyword, int):
            return keyword in self._elements
        if not isinstance(keyword, str):
            return False
        return keyword_entry(keyword)[0] in self._elements

    def __len__(self) -> int:
        return len(self._elements)

    def add_new(self, tag: int, vr: str, value: Any) -> None:
        self._elements[tag] = (vr, value)

    def private_block(self, group: int, creator: str) -> PrivateBlockDraft:
        """The block reserved by ``creator`` in ``group`` (reserved now if new).

        Raises
        ------
        DraftError
            If every block of the group is taken.
        """
        for slot in range(0x10, 0x100):
            tag = (group << 16) | slot
            if tag not in self._elements:
                self._elements[tag] = ("LO", creator)
                return PrivateBlockDraft(self, group, slot)
            if self._elements[tag][1] == creator:
                return PrivateBlockDraft(self, group, slot)
        raise DraftError(f"no free private block in group {group:04X}")

    def to_dataset(self) -> Dataset:
        """An independent ``pydicom.Dataset`` with the same elements."""
        ds = Dataset()
        for tag, (vr, value) in sorted(self._elements.items()):
            if vr == "SQ":
                ds.add_new(tag, vr, Sequence([item.to_dataset() for item in value]))
            else:
                ds.add_new(tag, vr, value)
        return ds

    def encode(self) -> EncodedElements:
        """Each element encoded as Explicit VR Little Endian, in tag order.

        Raises
        ------
        DraftError
            If an element has a VR this encoder does not implement.
        """
        return [(tag, _encode_element(tag, vr, value)) for tag, (vr, value) in sorted(self._elements.items())]


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _encode_value(vr: str, value: Any) -> bytes:
    if value is None or (isinstance(value, (str, bytes, list)) and len(value) == 0):
        return b""
    if vr in TEXT_VRS:
        raw = _text(value).encode("latin-1")
        return raw + b" " if len(raw) % 2 else raw
    if vr == "UI":
        raw = _text(value).encode("ascii")
        return raw + b"\x00" if len(raw) % 2 else raw
    if vr in BINARY_FORMATS:
        values = value if isinstance(value, (list, tuple)) else [value]
        return struct.pack("<" + BINARY_FORMATS[vr][1] * len(values), *values)
    if vr in ("OB", "OW"):
        raw = bytes(value)
        return raw + b"\x00" if len(raw) % 2 else raw
    if vr == "SQ":
        encoded = []
        for item in value:
            body = b"".join(chunk for _, chunk in item.encode())
            encoded.append(ITEM_TAG + struct.pack("<L", len(body)) + body)
        return b"".join(encoded)
    raise DraftError(f"cannot encode VR {vr}")


def _encode_element(tag: int, vr: str, value: Any) -> bytes:
    encoded = _encode_value(vr, value)
    if vr in LONG_VRS:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, len(encoded)) + encoded
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), len(encoded)) + encoded
