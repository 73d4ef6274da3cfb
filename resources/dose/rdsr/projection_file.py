"""Reading a dose SR file's top level straight from its bytes, without pydicom's dataset parser.

Large fluoroscopy reports (hundreds of events, a few MB) are mostly written with sequences of undefined
length, which ``pydicom.dcmread`` must parse item by item into ``Dataset`` objects just to find where
they end: seconds, and tens of MB per MB of file. Here the top-level elements are walked over their
headers; the Content Sequence is parsed once by the lean content-tree parser
(:mod:`.content_items`), which also tells where it ends; every other top-level element is kept as a
``RawDataElement`` (bytes, decoded on demand by the header readers). Little-endian transfer syntaxes
only (implicit and explicit VR, as every dose SR of the openrem wheel but one); anything else, or a file
without the DICM preamble, returns None and the caller reads it with pydicom.

The projection reader now streams files (:mod:`.projection_stream`: a window of the file and one content
item at a time, where this reader holds the file and its whole tree, about 2.3 MiB per MiB of report);
this whole-file reading is its fallback for what the stream leaves alone, and the CT stage's reader.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources.dose.rdsr.content_items import CONTENT_SEQUENCE, ContentTreeFormatError, Item, parse_sequence

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = frozenset({"1.2.840.10008.1.2.1"})
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}
)
_HEADER_IMPLICIT = struct.Struct("<HHI").unpack_from
_HEADER_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_U32 = struct.Struct("<I").unpack_from


@dataclass(frozen=True, slots=True)
class LeanFile:
    """A dose SR's top level: header elements as raw elements and, when parsed here, its content items."""

    dataset: Dataset
    content: list[Item] | None  # None: left to the reader (a defined-length sequence, parsed on demand)
    truncated: bool  # the data ended inside the Content Sequence


def transfer_syntax_of(data: bytes) -> tuple[str | None, int]:
    """The transfer syntax of the file meta group and the offset of the dataset after it."""
    if data[128:132] != b"DICM":
        return None, 0
    pos, syntax = 132, None
    while pos + 8 <= len(data):
        group, element, vr, length = _HEADER_EXPLICIT(data, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length, pos = _U32(data, pos + 8)[0], pos + 12
        else:
            pos += 8
        if element == 0x0010:
            syntax = data[pos : pos + length].rstrip(b"\x00 ").decode("ascii", errors="replace")
        pos += length
    return syntax, pos


def read_lean_file(path: str | Path) -> LeanFile | None:
    """The file's top level, or None when it is not a little-endian DICOM file with a preamble.

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    data = Path(path).read_bytes()
    syntax, pos = transfer_syntax_of(data)
    if syntax != _IMPLICIT_LE and syntax not in _EXPLICIT_LE:
        return None
    implicit = syntax == _IMPLICIT_LE
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    content: list[Item] | None = None
    truncated = False
    try:
        while pos + 8 <= len(data):
            if implicit:
                group, element, length = _HEADER_IMPLICIT(data, pos)
                vr, start = None, pos + 8
            else:
                group, element, vr_bytes, length = _HEADER_EXPLICIT(data, pos)
                vr = vr_bytes.decode("ascii", errors="replace")
                if vr_bytes in _LONG_VRS:
                    length, start = _U32(data, pos + 8)[0], pos + 12
                else:
                    start = pos + 8
            tag = group << 16 | element
            if length != _UNDEFINED:
                end = start + length
            elif vr in ("SQ", "UN", None) and may_be_sequence(tag, vr):
                if tag == CONTENT_SEQUENCE:
                    try:
                        content, end = parse_sequence(data, start, None, implicit)
                    except (ContentTreeFormatError, struct.error):
                        # Cut short inside the content tree: the reader keeps its sound leading items.
                        truncated, end = True, len(data)
                else:
                    end = parse_sequence(data, start, None, implicit)[1]
            else:
                return None  # encapsulated pixel data: not a dose report; let pydicom say what it is
            value = data[start:end]
            elements[BaseTag(tag)] = RawDataElement(
                BaseTag(tag), vr, length, value, start, implicit, True, True, False
            )
            pos = end
    except (ContentTreeFormatError, struct.error):
        return None  # damage outside the content tree: pydicom's reading decides
    return LeanFile(Dataset(elements), content, truncated)


def may_be_sequence(tag: int, vr: str | None) -> bool:
    """Whether a top-level element of undefined length with this VR (None: implicit) is a sequence."""
    if vr in ("SQ", "UN"):
        return True
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return True  # an unknown private element of undefined length can only be a sequence


def peek_sop_class(path: str | Path, head_bytes: int = 16384) -> str | None:
    """The SOP Class UID from the file's first bytes (it comes first in every dataset), or None.

    ``pydicom.dcmread(specific_tags=...)`` still parses every undefined-length sequence of the file
    before it returns: seconds for a large fluoroscopy report. None when the file is not little-endian
    DICOM with a preamble or the element is not in the first ``head_bytes``: ask pydicom then.

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    with Path(path).open("rb") as handle:
        data = handle.read(head_bytes)
    syntax, pos = transfer_syntax_of(data)
    if syntax != _IMPLICIT_LE and syntax not in _EXPLICIT_LE:
        return None
    implicit = syntax == _IMPLICIT_LE
    while pos + 8 <= len(data):
        if implicit:
            group, element, length = _HEADER_IMPLICIT(data, pos)
            start = pos + 8
        else:
            group, element, vr_bytes, length = _HEADER_EXPLICIT(data, pos)
            if vr_bytes in _LONG_VRS:
                length, start = _U32(data, pos + 8)[0], pos + 12
            else:
                start = pos + 8
        tag = group << 16 | element
        if tag == 0x00080016:
            return data[start : start + length].rstrip(b"\x00 ").decode("ascii", errors="replace")
        if tag > 0x00080016 or length == _UNDEFINED:
            return None
        pos = start + length
    return None
