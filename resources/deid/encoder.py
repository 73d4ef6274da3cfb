"""Encode a research dataset as a DICOM file, copying the source bytes of every element left untouched.

pydicom's writer spends most of its time per element (a buffer, encoding checks, length fix-ups) even
when the element is still the raw bytes read from the source. For Explicit VR Little Endian output of
a dataset read as Explicit VR Little Endian - what a PACS or modality sends almost always - an
untouched element is its tag, VR, length and the same value bytes, so this module writes those
directly and hands every other element (changed, converted, pixel data, anything unusual) to pydicom's
own ``write_data_element``. The result is byte for byte what ``Dataset.save_as(enforce_file_format=True)``
writes (a test checks this over a corpus); any other encoding takes pydicom's writer as a whole.
"""

from __future__ import annotations

import io
import struct

from pydicom import __version_info__ as _PYDICOM_VERSION
from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

_EXPLICIT_LITTLE = (False, True)
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHI")
_ITEM = struct.Struct("<HHI")
_ITEM_TAG = (0xFFFE, 0xE000)
_ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_ASCII_STRING_VRS = frozenset({"CS", "UI", "DA", "DT", "LO", "SH", "LT", "ST", "UT"})


def encode_file(ds: Dataset) -> bytes:
    """``ds`` as DICOM file bytes (preamble, File Meta Information, data set), as ``save_as`` writes them.

    Raises
    ------
    ValueError
        From pydicom, when the File Meta Information or an element cannot be encoded.
    """
    meta = getattr(ds, "file_meta", None)
    if (
        not isinstance(meta, FileMetaDataset)
        or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian
        or ds.original_encoding != _EXPLICIT_LITTLE
    ):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()
    preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    if len(preamble) != 128:
        raise ValueError("the preamble must be 128 bytes long")
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = _EXPLICIT_LITTLE
    fp.write(preamble)
    fp.write(b"DICM")
    # As dcmwrite does: a copy of the meta header (filled in and validated), never the dataset's own.
    file_meta = FileMetaDataset(meta)
    for meta_keyword, keyword in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        value = ds.get(keyword)
        if file_meta.get(meta_keyword) is None or (value and value != file_meta.get(meta_keyword)):
            setattr(file_meta, meta_keyword, value)
    encoded_meta = _plain_file_meta(file_meta)
    if encoded_meta is None:
        write_file_meta_info(fp, file_meta, enforce_standard=True)
    else:
        fp.write(encoded_meta)
    if _PIXEL_DATA in ds:
        ds[_PIXEL_DATA].is_undefined_length = False  # native pixel data has a defined length (PS3.5 A.4)
    _write_dataset(fp, ds, "iso8859")
    return fp.getvalue()


# The File Meta Information elements a de-identified file carries, with their VR and padding byte.
_META_STRINGS = {
    0x00020002: (b"UI", b"\x00"),  # Media Storage SOP Class UID
    0x00020003: (b"UI", b"\x00"),  # Media Storage SOP Instance UID
    0x00020010: (b"UI", b"\x00"),  # Transfer Syntax UID
    0x00020012: (b"UI", b"\x00"),  # Implementation Class UID
    0x00020013: (b"SH", b" "),  # Implementation Version Name
    0x00020016: (b"AE", b" "),  # Source Application Entity Title
}
_META_VERSION = b"\x00\x01"


def _plain_file_meta(file_meta: FileMetaDataset) -> bytes | None:
    """The meta group as ``write_file_meta_info(enforce_standard=True)`` writes it, or None if unusual.

    Validating and writing a five-element group through pydicom costs about as much as writing the
    whole rest of a header-only instance; the group a de-identified file carries is plain ASCII
    strings, so it is written here (a test checks the bytes against pydicom's). Anything else (private
    information, a version other than 00 01, a value that is not a plain string) returns None and
    takes pydicom's writer.
    """
    values: dict[int, str] = {}
    for tag in file_meta.keys():  # noqa: SIM118 (iterating a Dataset yields elements, not tags)
        if tag == 0x00020000:
            continue
        if tag == 0x00020001:
            if file_meta[tag].value not in (_META_VERSION, None, b""):
                return None
            continue
        if tag not in _META_STRINGS:
            return None
        value = file_meta[tag].value
        if not isinstance(value, str) or not value.isascii():
            return None
        values[tag] = value
    if not all(values.get(tag) for tag in (0x00020002, 0x00020003, 0x00020010)):
        return None  # pydicom's writer raises the error that names the missing element
    if not values.get(0x00020012):
        values[0x00020012] = PYDICOM_IMPLEMENTATION_UID
    values.setdefault(0x00020013, f"PYDICOM {'.'.join(_PYDICOM_VERSION)}")
    body = [_SHORT_HEADER.pack(0x0002, 0x0001, b"OB", 0) + struct.pack("<I", 2) + _META_VERSION]
    for meta_tag in sorted(values):
        vr, pad = _META_STRINGS[meta_tag]
        raw = values[meta_tag].encode("ascii")
        if len(raw) % 2:
            raw += pad
        body.append(_SHORT_HEADER.pack(0x0002, meta_tag & 0xFFFF, vr, len(raw)) + raw)
    group = b"".join(body)
    return _SHORT_HEADER.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(group)) + group


def _write_dataset(fp: DicomBytesIO, ds: Dataset, parent_encoding: str | list[str]) -> None:
    if (
        ds.original_encoding != _EXPLICIT_LITTLE or ds.original_character_set != ds._character_set
    ) and not _all_converted(ds):
        write_dataset(fp, ds, parent_encoding)  # pydicom re-encodes every raw element: its own writer
        return
    encodings = ds.get("SpecificCharacterSet", parent_encoding)
    elements = ds._dict
    write = fp.write
    for tag in sorted(elements, key=int):  # int keys compare in C, BaseTag's __lt__ is Python
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            vr, value = elem.VR, elem.value
            if (
                vr
                and len(vr) == 2
                and vr != "SQ"
                and isinstance(value, bytes)
                and elem.length != _UNDEFINED
                and tag != _PIXEL_DATA
            ):
                group, element = tag >> 16, tag & 0xFFFF
                if vr in _LONG_VRS:
                    write(_LONG_HEADER.pack(group, element, vr.encode("ascii"), 0, len(value)))
                elif len(value) <= 0xFFFF:
                    write(_SHORT_HEADER.pack(group, element, vr.encode("ascii"), len(value)))
                else:
                    write_data_element(fp, elem, encodings)
                    continue
                write(value)
                continue
        elif elem.VR == "SQ" and isinstance(elem.value, Sequence):
            _write_sequence(fp, tag, elem.value, elem.is_undefined_length, encodings)
            continue
        else:
            encoded = _ascii_value(elem.VR, elem.value)
            if encoded is not None and not elem.is_undefined_length:
                group, element = tag >> 16, tag & 0xFFFF
                if elem.VR in _LONG_VRS:
                    write(_LONG_HEADER.pack(group, element, elem.VR.encode("ascii"), 0, len(encoded)))
                else:
                    write(_SHORT_HEADER.pack(group, element, elem.VR.encode("ascii"), len(encoded)))
                write(encoded)
                continue
        write_data_element(fp, elem, encodings)


def _ascii_value(vr: str, value: object) -> bytes | None:
    """The value bytes pydicom writes for a single ASCII string (or no value) of a string VR, else None.

    ``write_string`` (CS, UI, and DA/DT given as text) and ``write_text`` (LO, SH, LT, ST, UT) both
    write an ASCII string as its bytes padded to even length (UI with NUL, the others with a space):
    ASCII is the same in every single-byte or UTF-8 character set. Anything else goes to pydicom.
    """
    if vr not in _ASCII_STRING_VRS:
        return None
    if value is None:
        return b""
    if type(value) is not str and not isinstance(value, UID):
        return None
    text = str(value)
    if not text.isascii() or len(text) > 0xFFFE:
        return None
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return data


def _write_sequence(  # as write_data_element + write_sequence_item do for a converted sequence
    fp: DicomBytesIO, tag: int, items: Sequence, undefined_length: bool, encodings: str | list[str]
) -> None:
    body = DicomBytesIO()
    body.is_implicit_VR, body.is_little_endian = _EXPLICIT_LITTLE
    item_encodings = convert_encodings(encodings or ["iso8859"])
    for item in items:
        start = body.tell()
        body.write(_ITEM.pack(*_ITEM_TAG, _UNDEFINED))
        _write_dataset(body, item, item_encodings)
        if getattr(item, "is_undefined_length_sequence_item", False):
            body.write(_ITEM_DELIMITER)
        else:
            end = body.tell()
            body.seek(start + 4)
            body.write_UL(end - start - 8)
            body.seek(end)
    content = body.getvalue()
    length = _UNDEFINED if undefined_length else len(content)
    fp.write(_LONG_HEADER.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, length))
    fp.write(content)
    if undefined_length:
        fp.write(_SEQUENCE_DELIMITER)


def _all_converted(ds: Dataset) -> bool:
    """True when no element is raw and no VR is ambiguous (a dataset built in memory, e.g. method codes).

    pydicom's writer then writes every element with ``write_data_element`` too.
    """
    return all(not isinstance(elem, RawDataElement) and len(elem.VR or "") == 2 for elem in ds._dict.values())
