"""Reading source files the way archives really write them, before the profile is applied.

Two kinds of valid input the strict path refused or mangled:

- *No Part 10 meta header.* Older archives and some exports write the bare data set (PS3.5 encoding,
  no preamble, no "DICM"). :func:`read_headerless` reads it with ``force`` and keeps it only when it
  looks like a data set: a plausible first tag, and a SOP Class UID and SOP Instance UID that are
  valid UIDs. Random bytes or a truncated text file fail those checks and stay "not a DICOM file".
- *Values encoded with VR UN.* An implicit-to-explicit conversion that did not know an element's VR
  writes it as UN; the profile then sees opaque bytes (a StudyDate that cannot be shifted comes out
  empty, a name or description that cannot be scrubbed survives). :func:`decode_un_elements` gives
  every public element its dictionary VR at every depth, before anything reads the data set.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from resources.deid.errors import UnreadableInstanceError

logger = logging.getLogger(__name__)

# A bare data set starts with its lowest group: File Meta (0002) written without a preamble, the
# Directory (0004) or, almost always, Identifying (0008) - often its group length (0008,0000).
_PLAUSIBLE_FIRST_GROUPS = frozenset({0x0002, 0x0004, 0x0008})
_FIRST_TAG = struct.Struct("<HH")
_FIRST_TAG_BIG = struct.Struct(">HH")
_TRANSFER_SYNTAX_OF_ENCODING: dict[tuple[bool | None, bool | None], UID] = {
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}
# VRs whose value is character text: a UN value of these is decoded whatever its length.
_STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_TEXT_OR_SEQUENCE_VRS = _STRING_VRS | {"SQ"}
# A UN value this long may be UN on purpose: its VR's 16-bit length field cannot hold it (PS3.5 6.2.2).
_SHORT_LENGTH_LIMIT = 0xFFFF
_UNDEFINED_LENGTH = 0xFFFFFFFF


def read_headerless(path: Path) -> Dataset:
    """Read a data set written without its Part 10 meta header, or refuse it as not DICOM.

    The returned data set carries a File Meta Information naming the transfer syntax it was read in,
    so that the research copy is written in the same encoding.

    Raises
    ------
    UnreadableInstanceError
        Naming the file, when the bytes do not start like a data set, cannot be parsed, or lack a valid
        SOP Class UID or SOP Instance UID.
    """
    name = Path(path).name
    not_dicom = (
        f"{name}: not a DICOM file (no meta header, and not a data set with SOP Class and Instance UIDs)"
    )
    with Path(path).open("rb") as handle:
        start = handle.read(_FIRST_TAG.size)
    if len(start) < _FIRST_TAG.size or not _plausible_first_tag(start):
        raise UnreadableInstanceError(not_dicom)
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many types for damaged input
        raise UnreadableInstanceError(not_dicom) from exc
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        try:
            value = ds.get(keyword)
        except Exception as exc:  # a value that cannot be decoded is no UID
            raise UnreadableInstanceError(not_dicom) from exc
        if value is None or not UID(str(value)).is_valid:
            raise UnreadableInstanceError(not_dicom)
    transfer_syntax = _TRANSFER_SYNTAX_OF_ENCODING.get(ds.original_encoding)
    if transfer_syntax is None:
        raise UnreadableInstanceError(not_dicom)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta = meta
    logger.info("%s: read without a Part 10 meta header (%s)", name, transfer_syntax.name)
    return ds


def _plausible_first_tag(start: bytes) -> bool:
    for layout in (_FIRST_TAG, _FIRST_TAG_BIG):
        group, _ = layout.unpack(start)
        if group in _PLAUSIBLE_FIRST_GROUPS:
            return True
    return False


def decode_un_elements(ds: Dataset) -> int:
    """Give every public UN element of ``ds`` (at every depth) its dictionary VR; return how many.

    Raw elements stay raw (only their VR changes), so values are still read lazily and a truncated
    value is still found by the identifier collection. An element already converted with its bytes
    as value (pydicom keeps them so when a data set is built in memory) is turned back into a raw
    element of the dictionary VR. A UN value of a sequence is encoded Implicit VR Little Endian
    (PS3.5 6.2.2) and is read so.

    It runs on every instance before the profile, so an element that cannot be UN costs one attribute
    read: the dictionary is asked only for UN elements, undecoded text held in memory, and the VR of
    implicit-VR elements (to find sequences to descend into).
    """
    decoded = 0
    elements = ds._dict
    for tag, element in list(elements.items()):
        vr = element.VR
        if vr == "UN" or (
            vr in _TEXT_OR_SEQUENCE_VRS
            and type(element) is not RawDataElement
            and isinstance(element.value, bytes)
        ):
            known = None if tag.is_private else _dictionary_vr(tag)
            if known is not None and (vr == "UN" or known == vr):
                value = element.value
                length = len(value) if isinstance(value, bytes) else 0
                if known in _TEXT_OR_SEQUENCE_VRS or length < _SHORT_LENGTH_LIMIT:
                    element = elements[tag] = _raw_with_vr(element, known)
                    vr = known
                    decoded += 1
        if vr is None:  # implicit VR: the dictionary says whether this is a sequence
            vr = _dictionary_vr(tag)
        if vr == "SQ" and not _cut_short(element):
            for item in ds[tag].value or []:
                decoded += decode_un_elements(item)
    return decoded


def _cut_short(element: DataElement | RawDataElement) -> bool:
    """A raw value shorter than its length field: left raw, for the identifier collection to refuse.

    Converting it would parse what is there and hide the truncation from that check.
    """
    if not isinstance(element, RawDataElement) or not isinstance(element.value, bytes):
        return False
    return element.length != _UNDEFINED_LENGTH and len(element.value) < element.length


def _dictionary_vr(tag: BaseTag) -> str | None:
    """The single dictionary VR of a public tag; None when unknown, ambiguous ("US or SS") or UN."""
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    if " " in vr or vr == "UN":
        return None
    return vr


def _raw_with_vr(element: DataElement | RawDataElement, vr: str) -> RawDataElement:
    sequence = vr == "SQ"
    if isinstance(element, RawDataElement):
        if sequence:
            return element._replace(VR=vr, is_implicit_VR=True, is_little_endian=True)
        return element._replace(VR=vr)
    value = element.value if isinstance(element.value, bytes) else b""
    # Bytes held in memory carry no encoding of their own: PS3.5 little endian, as every
    # transfer syntax still in use.
    return RawDataElement(element.tag, vr, len(value), value, 0, sequence, True)
