"""Part 10 files from encoded parts: preamble, File Meta Information, then the parts' elements.

Most of a corpus file is the same for every instance of its study (patient, study, equipment, planted
identifiers) or of its series, so each shared part is encoded once (``DraftDataset.encode``) and every
file is the tag-ordered concatenation of its parts' elements. The result is byte-identical to
``pydicom.dcmwrite(merged_dataset, enforce_file_format=True)`` (a test checks this).
"""

from __future__ import annotations

import struct
from operator import itemgetter

from resources.corpus.dicom_modules import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from resources.corpus.draft import EncodedElements

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
PREAMBLE = b"\x00" * 128 + b"DICM"


def _short_element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _ui(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def file_meta_bytes(sop_class_uid: str, sop_instance_uid: str) -> bytes:
    """The File Meta Information group as ``dicom_modules.file_meta`` defines it."""
    version_name = IMPLEMENTATION_VERSION_NAME.encode("ascii")
    if len(version_name) % 2:
        version_name += b" "
    body = b"".join(
        (
            struct.pack("<HH2sHI", 0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01",
            _short_element(0x0002, 0x0002, b"UI", _ui(sop_class_uid)),
            _short_element(0x0002, 0x0003, b"UI", _ui(sop_instance_uid)),
            _short_element(0x0002, 0x0010, b"UI", _ui(EXPLICIT_VR_LITTLE_ENDIAN)),
            _short_element(0x0002, 0x0012, b"UI", _ui(IMPLEMENTATION_CLASS_UID)),
            _short_element(0x0002, 0x0013, b"SH", version_name),
        )
    )
    return _short_element(0x0002, 0x0000, b"UL", struct.pack("<I", len(body))) + body


def part10_bytes(sop_class_uid: str, sop_instance_uid: str, parts: list[EncodedElements]) -> bytes:
    """A whole Part 10 file from encoded parts (which must not share tags)."""
    elements = sorted((pair for part in parts for pair in part), key=itemgetter(0))
    return b"".join(
        [PREAMBLE, file_meta_bytes(sop_class_uid, sop_instance_uid), *(chunk for _, chunk in elements)]
    )
