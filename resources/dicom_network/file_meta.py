"""The Part 10 header of a received instance: preamble, ``DICM`` and File Meta Information (PS3.10 7.1).

Both receive paths - the listener and the retrieval's storage SCP, on either engine - store a dataset
as the bytes sent, with this header in front, encoded directly (no pydicom): the SOP Class and Instance
UIDs come from the C-STORE request, the transfer syntax from the presentation context and the source
AE title from the association.
"""

from __future__ import annotations

import functools
import struct

from resources.dicom_network.upper_layer import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION, uid_bytes


def _explicit_element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH", 0x0002, element) + vr + b"\0\0" + struct.pack("<I", len(value)) + value
    return struct.pack("<HH", 0x0002, element) + vr + struct.pack("<H", len(value)) + value


def file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, source_ae: str) -> bytes:
    """Preamble, ``DICM`` and a File Meta Information group (PS3.10 7.1) for a received dataset."""
    head, tail = _file_meta_parts(sop_class_uid, transfer_syntax, source_ae)
    instance = _explicit_element(0x0003, b"UI", uid_bytes(sop_instance_uid))
    group_length = _explicit_element(0x0000, b"UL", struct.pack("<I", len(head) + len(instance) + len(tail)))
    return b"".join((_PREAMBLE, group_length, head, instance, tail))


_PREAMBLE = b"\0" * 128 + b"DICM"


@functools.lru_cache(maxsize=256)
def _file_meta_parts(sop_class_uid: str, transfer_syntax: str, source_ae: str) -> tuple[bytes, bytes]:
    # Everything but the SOP Instance UID repeats from one instance to the next of an association.
    ae = source_ae.encode("ascii", "replace")
    version = IMPLEMENTATION_VERSION.encode()
    head = _explicit_element(0x0001, b"OB", b"\x00\x01") + _explicit_element(
        0x0002, b"UI", uid_bytes(sop_class_uid)
    )
    tail = (
        _explicit_element(0x0010, b"UI", uid_bytes(transfer_syntax))
        + _explicit_element(0x0012, b"UI", uid_bytes(IMPLEMENTATION_CLASS_UID))
        + _explicit_element(0x0013, b"SH", version + (b" " if len(version) % 2 else b""))
        + _explicit_element(0x0016, b"AE", ae + (b" " if len(ae) % 2 else b""))
    )
    return head, tail
