"""DICOM upper layer (PS3.8) and DIMSE command-set encoding shared by our lean acceptor and requestor.

Both ends of our fast network paths speak the protocol directly on a socket instead of through
pynetdicom's polling threads: :mod:`resources.dicom_network.acceptor` accepts C-STORE/C-ECHO
associations, :mod:`resources.dicom_network.requestor` requests C-FIND and C-MOVE. What they share lives
here: PDU and item framing (PS3.8 9.3), command sets in implicit VR little endian with their group
length (PS3.7 Annex E), and reading one whole PDU from a buffered stream.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import BinaryIO

from resources.dicom_network.errors import AssociationLost, MalformedPdu, PduTooLarge, ProtocolViolation

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLEMENTATION_VERSION = "DICOM_LAKE_01"
# Implementation Class UID announced in associations and written in received files' meta: pydicom's
# (PYDICOM_IMPLEMENTATION_UID), whose encoder builds what we send; spelled out so that the receive
# path need not import pydicom (a receiving process starts in a fraction of the time).
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"
OUR_MAX_PDU = 262144  # what we tell the peer it may put in one P-DATA-TF
# A command set is a dozen elements of group 0000 (PS3.7 E.1), a few hundred bytes; 64 KiB leaves room
# for any optional element a sender adds while bounding what a peer can make us buffer before its end.
MAX_COMMAND_SET = 65536
# Bodies up to this size are read in one call (the hot path: every P-DATA-TF we advertise room for);
# larger ones in pieces of this size, so that what is allocated follows what arrives, not what a header
# declares (a buffered read of n bytes allocates n bytes before reading any).
_ONE_READ = 1 << 20

# PDU types (PS3.8 9.3.1)
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x05, 0x06, 0x07
PDU_TYPES = frozenset(range(A_ASSOCIATE_RQ, A_ABORT + 1))
PDU_HEADER = 6  # type, reserved, 4-byte length of the variable field

# A-ABORT reasons of a service-provider initiated abort (source 2, PS3.8 Table 9-26)
ABORT_REASON_NOT_SPECIFIED = 0x00
ABORT_UNRECOGNISED_PDU = 0x01
ABORT_UNEXPECTED_PDU = 0x02
ABORT_INVALID_PARAMETER = 0x06

# Command Data Set Type (0000,0800): this value means "no dataset follows" (PS3.7 E.1).
NO_DATASET = 0x0101
DATASET_FOLLOWS = 0x0000  # any other value does; this is the one we send

# P-DATA-TF message control header bits (PS3.8 E.2)
PDV_COMMAND, PDV_LAST = 0x01, 0x02


class CommandField(IntEnum):
    """Command Field (0000,0100) of the DIMSE messages we send or answer (PS3.7 E.1)."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030


def uid_bytes(uid: str) -> bytes:
    """A UID value padded to even length with NUL (PS3.5 9.1)."""
    raw = uid.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def ae_bytes(title: str) -> bytes:
    """An AE title field of an A-ASSOCIATE PDU: 16 bytes, space padded."""
    return title.encode("ascii", "replace")[:16].ljust(16, b" ")


def text(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip(" \0")


def implicit_element(group: int, element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, element, len(value)) + value


def encode_command(elements: list[tuple[int, bytes]]) -> bytes:
    """A command set from (element number, value) pairs of group 0000, with its group length."""
    body = b"".join(implicit_element(0x0000, element, value) for element, value in elements)
    return implicit_element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def us(value: int) -> bytes:
    """An unsigned short (US) command value."""
    return struct.pack("<H", value)


def parse_command(raw: bytes) -> dict[int, bytes]:
    """Elements of a command set (implicit VR LE) by element number (group 0000 only)."""
    out: dict[int, bytes] = {}
    offset = 0
    while offset + 8 <= len(raw):
        group, element, length = struct.unpack_from("<HHI", raw, offset)
        offset += 8
        if group != 0x0000 or offset + length > len(raw):
            raise ProtocolViolation("malformed command set")
        out[element] = raw[offset : offset + length]
        offset += length
    return out


def command_us(fields: dict[int, bytes], element: int, default: int = 0) -> int:
    """An unsigned short of a parsed command set, or ``default`` when absent."""
    value = fields.get(element)
    return struct.unpack("<H", value[:2])[0] if value and len(value) >= 2 else default


def encode_response(
    command_field: int, message_id: int, sop_class_uid: str, status: int, sop_instance_uid: str | None
) -> bytes:
    """A DIMSE response command set (implicit VR little endian, with its group length)."""
    elements = [
        (0x0002, uid_bytes(sop_class_uid)),
        (0x0100, us(command_field)),
        (0x0120, us(message_id)),
        (0x0800, us(NO_DATASET)),
        (0x0900, us(status)),
    ]
    if sop_instance_uid is not None:
        elements.append((0x1000, uid_bytes(sop_instance_uid)))
    return encode_command(elements)


def item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def encode_abort(reason: int = ABORT_REASON_NOT_SPECIFIED) -> bytes:
    """An A-ABORT from the service provider (source 2) with ``reason`` (PS3.8 9.3.8)."""
    return pdu(A_ABORT, bytes([0, 0, 0x02, reason]))


def unexpected_pdu(pdu_type: int, where: str) -> MalformedPdu:
    """The error for a PDU of ``pdu_type`` arriving ``where``: an unknown type (A-ABORT reason 1) or a
    known one out of turn (reason 2)."""
    if pdu_type not in PDU_TYPES:
        return MalformedPdu(f"unknown PDU type 0x{pdu_type:02x} {where}", abort_reason=ABORT_UNRECOGNISED_PDU)
    return MalformedPdu(f"PDU type 0x{pdu_type:02x} {where}", abort_reason=ABORT_UNEXPECTED_PDU)


def pdv_pdus(context_id: int, payload: bytes, *, command: bool, max_pdu: int) -> list[bytes]:
    """P-DATA-TF PDUs carrying ``payload`` in fragments that fit the peer's maximum PDU length.

    ``max_pdu`` is the peer's Maximum Length Received (0: no limit); it bounds a PDU's variable
    field, which holds one PDV item here (4 bytes length, context ID, control header, fragment).
    """
    room = max_pdu - 6 if max_pdu > 6 else len(payload) or 1
    control_base = PDV_COMMAND if command else 0x00
    out = []
    for start in range(0, max(len(payload), 1), room):
        fragment = payload[start : start + room]
        last = start + room >= len(payload)
        control = control_base | (PDV_LAST if last else 0x00)
        out.append(pdu(P_DATA_TF, struct.pack(">IBB", len(fragment) + 2, context_id, control) + fragment))
    return out


def read_pdu(stream: BinaryIO, max_length: int | None = None) -> tuple[int, bytes] | None:
    """The next whole PDU as (type, variable field), or None when the peer closed between PDUs.

    ``max_length`` bounds the variable field: a header declaring more raises before any of the body is
    read (the caller answers and closes). Without it, memory still follows what arrives: a body over
    1 MiB is read in pieces.

    Raises
    ------
    PduTooLarge
        If the header declares more than ``max_length`` bytes.
    ProtocolViolation
        If the connection closes inside the header or the body.
    """
    header = stream.read(PDU_HEADER)
    if not header:
        return None
    if len(header) < PDU_HEADER:
        raise ProtocolViolation("connection closed inside a PDU header")
    pdu_type, length = struct.unpack(">BxI", header)
    if max_length is not None and length > max_length:
        raise PduTooLarge(pdu_type, length, max_length)
    body = stream.read(length) if length <= _ONE_READ else _read_in_pieces(stream, length)
    if len(body) < length:
        raise ProtocolViolation("connection closed inside a PDU")
    return pdu_type, body


def _read_in_pieces(stream: BinaryIO, length: int) -> bytes:
    pieces: list[bytes] = []
    left = length
    while left:
        wanted = min(left, _ONE_READ)
        piece = stream.read(wanted)
        pieces.append(piece)
        left -= len(piece)
        if len(piece) < wanted:
            break  # closed early: the caller sees the short body
    return b"".join(pieces)


def sub_items(value: bytes, offset: int = 0, *, strict: bool = False) -> list[tuple[int, bytes]]:
    """The (type, value) items of an A-ASSOCIATE PDU's variable part or of a compound item.

    ``strict`` (what the acceptor reads a request with) raises on an item whose length runs past the
    end or on trailing bytes too few for an item header; otherwise the last item is cut at the end
    (how our requestor reads a peer's answer).

    Raises
    ------
    MalformedPdu
        If ``strict`` and the items do not tile ``value`` exactly.
    """
    out = []
    while offset + 4 <= len(value):
        item_type, length = value[offset], struct.unpack_from(">H", value, offset + 2)[0]
        if strict and offset + 4 + length > len(value):
            raise MalformedPdu(
                f"item type 0x{item_type:02x} declares {length} bytes, past the end of its container"
            )
        out.append((item_type, value[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    if strict and offset != len(value):
        raise MalformedPdu(f"{len(value) - offset} stray byte(s) after the last item")
    return out


def read_message(stream: BinaryIO, *, who: str = "the peer") -> tuple[dict[int, bytes], bytes | None]:
    """The next DIMSE message from P-DATA-TF PDUs: its command set and its dataset bytes (None if none).

    Raises
    ------
    AssociationLost
        If ``who`` closes the connection, aborts or releases the association before the message ends.
    ProtocolViolation
        If a PDU other than P-DATA-TF arrives, or a dataset before its command.
    """
    command = bytearray()
    fields: dict[int, bytes] | None = None
    dataset: list[bytes] = []
    while True:
        received = read_pdu(stream)
        if received is None:
            raise AssociationLost(f"{who} closed the connection")
        pdu_type, body = received
        if pdu_type == A_ABORT:
            raise AssociationLost(f"{who} aborted the association")
        if pdu_type == A_RELEASE_RQ:
            raise AssociationLost(f"{who} released the association mid-operation")
        if pdu_type != P_DATA_TF:
            raise ProtocolViolation(f"unexpected PDU type 0x{pdu_type:02x}")
        offset = 0
        while offset + 6 <= len(body):
            length = struct.unpack_from(">I", body, offset)[0]
            control = body[offset + 5]
            fragment = body[offset + 6 : offset + 4 + length]
            offset += 4 + length
            if control & PDV_COMMAND:
                command += fragment
                if control & PDV_LAST:
                    fields = parse_command(bytes(command))
                    if command_us(fields, 0x0800, NO_DATASET) == NO_DATASET:
                        return fields, None
            else:
                dataset.append(fragment)
                if control & PDV_LAST:
                    if fields is None:
                        raise ProtocolViolation("a dataset arrived before its command")
                    return fields, b"".join(dataset)
