"""Association negotiation (PS3.8 9.3.2-9.3.4): the A-ASSOCIATE-RQ, -AC and -RJ PDUs of both our ends.

The requestor (:mod:`resources.dicom_network.requestor`) writes a request and reads the answer; the
acceptor (:mod:`resources.dicom_network.acceptor`) reads a request and answers it. Both propose or
accept only what they need: presentation contexts (abstract syntax, transfer syntaxes), the maximum PDU
length and our implementation class UID and version; other user information sub-items (extended
negotiation, asynchronous operations) are ignored, so their defaults apply.

A request is read strictly (:func:`parse_associate_rq`): one that breaks the framing is an invalid PDU
(PS3.8 9.2 state table, event 19: A-ABORT), one well formed but not acceptable gets an A-ASSOCIATE-RJ
(action AE-6) with the result, source and reason of PS3.8 9.3.4:

============================================================  =========================================
request                                                       answer
============================================================  =========================================
items whose lengths run past the PDU or their item; stray      A-ABORT, provider, invalid PDU parameter
bytes; shorter than its fixed fields; a presentation context   value (6)
without abstract or transfer syntax or with an even ID; no
presentation context; no user information or no maximum
length sub-item (mandatory, PS3.7 D.3.3.1)
protocol version without bit 0 (PS3.8 9.3.2)                   RJ permanent, ACSE, protocol version (2)
application context item missing or not the DICOM one          RJ permanent, user, application context (2)
declared length over the request limit (body never read)       RJ permanent, presentation, local limit (2)
============================================================  =========================================
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from resources.dicom_network.upper_layer import (
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    APPLICATION_CONTEXT,
    EXPLICIT_VR_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    IMPLICIT_VR_LE,
    VERIFICATION,
    MalformedPdu,
    ProtocolViolation,
    ae_bytes,
    item,
    pdu,
    sub_items,
    text,
)

# Item types of the variable part (PS3.8 Table 9-11 ff.)
APPLICATION_CONTEXT_ITEM = 0x10
PROPOSED_CONTEXT_ITEM, ACCEPTED_CONTEXT_ITEM = 0x20, 0x21
ABSTRACT_SYNTAX_ITEM, TRANSFER_SYNTAX_ITEM = 0x30, 0x40
USER_INFORMATION_ITEM = 0x50
MAX_LENGTH_ITEM, IMPLEMENTATION_CLASS_ITEM, IMPLEMENTATION_VERSION_ITEM = 0x51, 0x52, 0x55

# Presentation context results of an A-ASSOCIATE-AC (PS3.8 Table 9-18)
CONTEXT_ACCEPTED = 0x00
ABSTRACT_SYNTAX_NOT_SUPPORTED = 0x03
TRANSFER_SYNTAXES_NOT_SUPPORTED = 0x04

# A-ASSOCIATE-RJ (result, source, reason) - PS3.8 9.3.4
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_NO_REASON = (0x01, 0x01, 0x01)
REJECT_TOO_MANY = (0x02, 0x03, 0x02)  # transient, local limit exceeded
REJECT_PROTOCOL_VERSION = (0x01, 0x02, 0x02)  # permanent, ACSE, protocol version not supported
REJECT_APPLICATION_CONTEXT = (0x01, 0x01, 0x02)  # permanent, user, application context not supported
REJECT_TOO_LARGE = (0x01, 0x03, 0x02)  # permanent, presentation, local limit exceeded (request size)
REJECTION_RESULTS = (0x01, 0x02)  # permanent, transient

# A-ASSOCIATE-RJ wording (PS3.8 Table 9-21), as an operator would read it.
_RJ_RESULT = {0x01: "rejected (permanent)", 0x02: "rejected (transient)"}
_RJ_SOURCE = {0x01: "service user", 0x02: "service provider (ACSE)", 0x03: "service provider (presentation)"}
_RJ_REASON = {
    (0x01, 0x01): "no reason given",
    (0x01, 0x02): "application context name not supported",
    (0x01, 0x03): "calling AE title not recognised",
    (0x01, 0x07): "called AE title not recognised",
    (0x02, 0x01): "no reason given",
    (0x02, 0x02): "protocol version not supported",
    (0x03, 0x01): "temporary congestion",
    (0x03, 0x02): "local limit exceeded",
}
_FIXED_FIELDS = 68  # protocol version, reserved, called and calling AE titles, 32 reserved bytes


def _user_information(max_pdu: int) -> bytes:
    return item(
        USER_INFORMATION_ITEM,
        item(MAX_LENGTH_ITEM, struct.pack(">I", max_pdu))
        + item(IMPLEMENTATION_CLASS_ITEM, IMPLEMENTATION_CLASS_UID.encode())
        + item(IMPLEMENTATION_VERSION_ITEM, IMPLEMENTATION_VERSION.encode()),
    )


def _peer_max_pdu(user_information: bytes) -> int:
    for sub_type, sub_value in sub_items(user_information):
        if sub_type == MAX_LENGTH_ITEM and len(sub_value) == 4:
            return int(struct.unpack(">I", sub_value)[0])
    return 0


# -- the requestor's side -------------------------------------------------------------------------------
def context_id(number: int) -> int:
    """The presentation context ID of the ``number``-th proposed abstract syntax (odd, PS3.8 9.3.2.2)."""
    return 2 * number + 1


def encode_associate_rq(
    called_ae_title: str, calling_ae_title: str, abstract_syntaxes: Sequence[str], max_pdu: int
) -> bytes:
    """An A-ASSOCIATE-RQ proposing each abstract syntax with explicit and implicit VR little endian."""
    items = item(APPLICATION_CONTEXT_ITEM, APPLICATION_CONTEXT.encode())
    for number, abstract in enumerate(abstract_syntaxes):
        proposal = item(ABSTRACT_SYNTAX_ITEM, abstract.encode())
        proposal += item(TRANSFER_SYNTAX_ITEM, EXPLICIT_VR_LE.encode())
        proposal += item(TRANSFER_SYNTAX_ITEM, IMPLICIT_VR_LE.encode())
        items += item(PROPOSED_CONTEXT_ITEM, bytes([context_id(number), 0, 0, 0]) + proposal)
    items += _user_information(max_pdu)
    header = struct.pack(">HH", 1, 0) + ae_bytes(called_ae_title) + ae_bytes(calling_ae_title) + b"\0" * 32
    return pdu(A_ASSOCIATE_RQ, header + items)


def read_associate_ac(
    body: bytes, abstract_syntaxes: Sequence[str]
) -> tuple[dict[str, tuple[int, str]], int]:
    """The accepted contexts (abstract syntax -> (context ID, transfer syntax)) and the peer's max PDU."""
    proposed = {context_id(n): abstract for n, abstract in enumerate(abstract_syntaxes)}
    accepted: dict[str, tuple[int, str]] = {}
    peer_max_pdu = 0
    for item_type, value in sub_items(body, _FIXED_FIELDS):
        if item_type == ACCEPTED_CONTEXT_ITEM and len(value) >= 4:
            number, result = value[0], value[2]
            transfer = next((text(v) for t, v in sub_items(value, 4) if t == TRANSFER_SYNTAX_ITEM), "")
            if (
                result == CONTEXT_ACCEPTED
                and number in proposed
                and transfer in (EXPLICIT_VR_LE, IMPLICIT_VR_LE)
            ):
                accepted[proposed[number]] = (number, transfer)
        elif item_type == USER_INFORMATION_ITEM:
            peer_max_pdu = _peer_max_pdu(value)
    return accepted, peer_max_pdu


def describe_rejection(body: bytes) -> str:
    """An A-ASSOCIATE-RJ's result, reason and source in words (PS3.8 Table 9-21)."""
    if len(body) < 4:
        return f"malformed rejection ({len(body)} of 4 bytes)"
    result, source, reason = body[1], body[2], body[3]
    return (
        f"{_RJ_RESULT.get(result, f'result {result}')}: "
        f"{_RJ_REASON.get((source, reason), f'reason {reason}')} "
        f"(source: {_RJ_SOURCE.get(source, str(source))})"
    )


# -- the acceptor's side --------------------------------------------------------------------------------
@dataclass
class AssociateRequest:
    """What an A-ASSOCIATE-RQ asked for: AE titles, proposed contexts, the peer's maximum PDU length."""

    called_ae_title: str
    calling_ae_title: str
    # (context ID, abstract syntax, transfer syntaxes) in the order proposed
    proposed: list[tuple[int, str, list[str]]] = field(default_factory=list)
    peer_max_pdu: int = 0
    fixed_fields: bytes = b""  # echoed back in the A-ASSOCIATE-AC (PS3.8 9.3.3.2)
    protocol_version: int = 1
    application_context: str = ""  # empty: no application context item


def parse_associate_rq(pdu_type: int, body: bytes) -> AssociateRequest:
    """Read an A-ASSOCIATE-RQ strictly (the framing checks of the table above).

    Raises
    ------
    MalformedPdu
        If the framing is broken or a mandatory item is missing (answered with A-ABORT).
    ProtocolViolation
        If the PDU is not an A-ASSOCIATE-RQ.
    """
    if pdu_type != A_ASSOCIATE_RQ:
        raise ProtocolViolation("expected an A-ASSOCIATE-RQ")
    if len(body) < _FIXED_FIELDS:
        raise MalformedPdu(f"A-ASSOCIATE-RQ of {len(body)} bytes, shorter than its fixed fields")
    request = AssociateRequest(
        text(body[4:20]),
        text(body[20:36]),
        fixed_fields=body[:_FIXED_FIELDS],
        protocol_version=int(struct.unpack_from(">H", body)[0]),
    )
    user_information: bytes | None = None
    for item_type, value in sub_items(body, _FIXED_FIELDS, strict=True):
        if item_type == APPLICATION_CONTEXT_ITEM:
            request.application_context = text(value)
        elif item_type == PROPOSED_CONTEXT_ITEM:
            request.proposed.append(_proposed_context(value))
        elif item_type == USER_INFORMATION_ITEM:
            user_information = value
    if not request.proposed:
        raise MalformedPdu("A-ASSOCIATE-RQ proposes no presentation context")
    if user_information is None:
        raise MalformedPdu("A-ASSOCIATE-RQ has no user information item")
    lengths = [v for t, v in sub_items(user_information, strict=True) if t == MAX_LENGTH_ITEM]
    if len(lengths) != 1 or len(lengths[0]) != 4:
        raise MalformedPdu("A-ASSOCIATE-RQ user information needs one 4-byte maximum length sub-item")
    request.peer_max_pdu = int(struct.unpack(">I", lengths[0])[0])
    return request


def _proposed_context(value: bytes) -> tuple[int, str, list[str]]:
    if len(value) < 4 or value[0] % 2 == 0:
        raise MalformedPdu("presentation context item too short or with an even (invalid) context ID")
    abstract, syntaxes = "", []
    for sub_type, uid in sub_items(value, 4, strict=True):
        if sub_type == ABSTRACT_SYNTAX_ITEM:
            abstract = text(uid)
        elif sub_type == TRANSFER_SYNTAX_ITEM:
            syntaxes.append(text(uid))
    if not abstract or not syntaxes:
        raise MalformedPdu(f"presentation context {value[0]} lacks its abstract syntax or transfer syntaxes")
    return value[0], abstract, syntaxes


def rejection_of(request: AssociateRequest) -> tuple[tuple[int, int, int], str] | None:
    """The A-ASSOCIATE-RJ (result, source, reason) and why, for a well-formed request we cannot serve.

    Only what does not depend on who is asking: the protocol version and the application context.
    """
    if not request.protocol_version & 0x0001:
        return REJECT_PROTOCOL_VERSION, f"protocol version 0x{request.protocol_version:04x} lacks version 1"
    if request.application_context != APPLICATION_CONTEXT:
        return REJECT_APPLICATION_CONTEXT, "application context is missing or not the DICOM one"
    return None


def choose_contexts(
    request: AssociateRequest, sop_classes: frozenset[str], transfer_syntaxes: Sequence[str]
) -> tuple[list[tuple[int, int, str]], dict[int, tuple[str, str]]]:
    """Our answer to each proposed context, and the accepted ones (ID -> (abstract, transfer syntax)).

    Verification is accepted in either little endian syntax, a storage SOP class of ``sop_classes`` in
    the first proposed syntax that is one of ``transfer_syntaxes`` (the peer's order of preference).
    """
    results: list[tuple[int, int, str]] = []
    accepted: dict[int, tuple[str, str]] = {}
    for number, abstract, syntaxes in request.proposed:
        if abstract == VERIFICATION:
            acceptable: Sequence[str] = (IMPLICIT_VR_LE, EXPLICIT_VR_LE)
        elif abstract in sop_classes:
            acceptable = transfer_syntaxes
        else:
            acceptable = ()
        chosen = next((ts for ts in syntaxes if ts in acceptable), None)
        first = syntaxes[0] if syntaxes else IMPLICIT_VR_LE
        if not acceptable:
            results.append((number, ABSTRACT_SYNTAX_NOT_SUPPORTED, first))
        elif chosen is None:
            results.append((number, TRANSFER_SYNTAXES_NOT_SUPPORTED, first))
        else:
            results.append((number, CONTEXT_ACCEPTED, chosen))
            accepted[number] = (abstract, chosen)
    return results, accepted


def encode_associate_ac(
    request: AssociateRequest, results: Sequence[tuple[int, int, str]], max_pdu: int
) -> bytes:
    """The A-ASSOCIATE-AC answering ``request``: one (context ID, result, transfer syntax) per context."""
    items = item(APPLICATION_CONTEXT_ITEM, APPLICATION_CONTEXT.encode())
    for number, result, transfer in results:
        items += item(
            ACCEPTED_CONTEXT_ITEM,
            bytes([number, 0, result, 0]) + item(TRANSFER_SYNTAX_ITEM, transfer.encode()),
        )
    items += _user_information(max_pdu)
    header = struct.pack(">HH", 1, 0) + request.fixed_fields[4:]
    return pdu(A_ASSOCIATE_AC, header + items)


def encode_associate_rj(why: tuple[int, int, int]) -> bytes:
    """An A-ASSOCIATE-RJ with (result, source, reason)."""
    result, source, diagnostic = why
    return pdu(A_ASSOCIATE_RJ, bytes([0, result, source, diagnostic]))
