"""Fuzzing the DICOM upper layer and association negotiation (``resources/dicom_network``).

Generated PDUs (A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF carrying command sets and datasets), then mutated
(lengths, types, truncations), and random bytes: every input either parses or raises the network
room's own error (:class:`~resources.dicom_network.errors.NetworkError`), never ``IndexError``,
``struct.error`` or ``UnicodeDecodeError``; and a PDU declaring 4 GB never makes the reader allocate
4 GB.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import tracemalloc
from typing import BinaryIO, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resources.dicom_network.errors import NetworkError
from resources.dicom_network.negotiation import (
    CONTEXT_ACCEPTED,
    AssociateRequest,
    context_id,
    describe_rejection,
    encode_associate_ac,
    encode_associate_rj,
    encode_associate_rq,
    parse_associate_rq,
    read_associate_ac,
)
from resources.dicom_network.upper_layer import (
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    EXPLICIT_VR_LE,
    P_DATA_TF,
    CommandField,
    encode_command,
    parse_command,
    pdv_pdus,
    read_message,
    read_pdu,
    sub_items,
    uid_bytes,
    us,
)
from tests.fuzz.profiles import examples

# -- strategies: valid PDUs first, then mutations of them ---------------------------------------------
ae_titles = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)
uids = (
    st.lists(st.integers(0, 10**12).map(str), min_size=2, max_size=10)
    .map(".".join)
    .filter(lambda uid: len(uid) <= 64)
)
abstract_syntax_lists = st.lists(uids, min_size=1, max_size=6)
max_pdus = st.sampled_from([0, 16384, 262144, 0xFFFFFFFF])


@st.composite
def associate_requests(draw: st.DrawFn) -> tuple[str, str, list[str], int, bytes]:
    called, calling = draw(ae_titles), draw(ae_titles)
    syntaxes, max_pdu = draw(abstract_syntax_lists), draw(max_pdus)
    return called, calling, syntaxes, max_pdu, encode_associate_rq(called, calling, syntaxes, max_pdu)


@st.composite
def associate_accepts(draw: st.DrawFn) -> tuple[list[str], bytes]:
    _called, _calling, syntaxes, _max_pdu, raw = draw(associate_requests())
    request = parse_associate_rq(raw[0], raw[6:])
    results = [(number, CONTEXT_ACCEPTED, EXPLICIT_VR_LE) for number, _abstract, _ts in request.proposed]
    return syntaxes, encode_associate_ac(request, results, draw(max_pdus))


@st.composite
def dimse_messages(draw: st.DrawFn) -> bytes:
    """One C-STORE-RQ or C-ECHO-RQ as P-DATA-TF PDUs (command, then dataset fragments)."""
    sop_class, sop_instance = draw(uids), draw(uids)
    max_pdu = draw(st.sampled_from([16, 64, 1024, 0]))
    dataset = draw(st.binary(max_size=2048))
    if draw(st.booleans()):
        command = encode_command(
            [
                (0x0002, uid_bytes(sop_class)),
                (0x0100, us(CommandField.C_STORE_RQ)),
                (0x0110, us(draw(st.integers(0, 0xFFFF)))),
                (0x0800, us(0x0000)),
                (0x1000, uid_bytes(sop_instance)),
            ]
        )
        return b"".join(
            pdv_pdus(1, command, command=True, max_pdu=max_pdu)
            + pdv_pdus(1, dataset, command=False, max_pdu=max_pdu)
        )
    command = encode_command([(0x0100, us(CommandField.C_ECHO_RQ)), (0x0110, us(1)), (0x0800, us(0x0101))])
    return b"".join(pdv_pdus(1, command, command=True, max_pdu=max_pdu))


@st.composite
def mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` with 1-3 mutations aimed at PDU framing: lengths, types, truncation, bytes."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(
            st.sampled_from(
                ["pdu_length", "pdu_type", "length16", "length32", "truncate", "flip", "insert", "delete"]
            )
        )
        if kind == "pdu_length" and len(data) >= 6:
            huge = st.sampled_from([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(data), len(data) + 1])
            data[2:6] = struct.pack(">I", draw(huge | st.integers(0, 0xFFFFFFFF)))
        elif kind == "pdu_type":
            data[0] = draw(st.integers(0, 0xFF))
        elif kind == "length16" and at + 2 <= len(data):
            data[at : at + 2] = struct.pack(">H", draw(st.sampled_from([0, 1, 3, 0xFFFF, 0x8000])))
        elif kind == "length32" and at + 4 <= len(data):
            value = draw(st.sampled_from([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE]))
            data[at : at + 4] = struct.pack(draw(st.sampled_from([">I", "<I"])), value)
        elif kind == "truncate":
            del data[at:]
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def _pdu_streams() -> st.SearchStrategy[bytes]:
    valid = st.one_of(
        associate_requests().map(lambda rq: rq[4]),
        associate_accepts().map(lambda ac: ac[1]),
        dimse_messages(),
        st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(0, 0xFF)).map(encode_associate_rj),
    )
    return st.one_of(valid.flatmap(mutated), st.binary(max_size=512))


def _read_all_pdus(raw: bytes) -> list[tuple[int, bytes]]:
    # A buffered reader, as a socket's makefile("rb") is.
    stream = io.BufferedReader(io.BytesIO(raw))
    out = []
    while (received := read_pdu(stream)) is not None:
        out.append(received)
    return out


# -- PDU framing ----------------------------------------------------------------------------------------
@settings(max_examples=examples(800))
@given(_pdu_streams())
@example(b"\x01\x00\xff\xff\xff\xff")  # a 4 GB A-ASSOCIATE-RQ header and nothing after it
@example(b"\x04\x00\x00\x00")  # a header cut short
def test_pdu_framing_reads_whole_pdus_or_raises_a_network_error(raw: bytes) -> None:
    try:
        pdus = _read_all_pdus(raw)
    except NetworkError as exc:
        assert str(exc)
        return
    assert sum(6 + len(body) for _type, body in pdus) == len(raw)


@settings(max_examples=examples(20))
@given(
    declared=st.sampled_from([0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x40000000]),
    sent=st.integers(0, 256 * 1024),
    pdu_type=st.sampled_from([A_ASSOCIATE_RQ, P_DATA_TF]),
)
# Found by this test: read_pdu asked the buffered stream for the declared length in one read, and a
# buffered read allocates that much before reading (4 GB for a 6-byte header).
@example(declared=0xFFFFFFFF, sent=0, pdu_type=A_ASSOCIATE_RQ)
def test_a_huge_declared_pdu_length_allocates_only_what_arrives(
    declared: int, sent: int, pdu_type: int
) -> None:
    """A peer that declares 4 GB then closes costs what it sent, not what it declared (issue 16)."""
    raw = struct.pack(">BBI", pdu_type, 0, declared) + b"\0" * sent
    stream = io.BufferedReader(io.BytesIO(raw), buffer_size=1 << 16)
    tracemalloc.start()
    try:
        with contextlib.suppress(NetworkError):  # which error is another test's concern
            read_pdu(stream)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"reading a PDU declaring {declared:#x} bytes peaked at {peak} bytes"


def test_a_socket_peer_declaring_4_gb_then_closing_costs_what_it_sent() -> None:
    """The same through a socket's buffered reader, the stream the acceptor and requestor read."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        stream = cast(BinaryIO, ours.makefile("rb", buffering=1 << 16))
        theirs.sendall(struct.pack(">BBI", A_ASSOCIATE_RQ, 0, 0xFFFFFFFF) + b"\0" * 100_000)
        theirs.shutdown(socket.SHUT_WR)
        tracemalloc.start()
        try:
            with pytest.raises(NetworkError, match="closed inside a PDU"):
                read_pdu(stream)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            stream.close()
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


# -- command sets and message reassembly -----------------------------------------------------------------
@settings(max_examples=examples(300))
@given(
    st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda elements: encode_command(elements),
            st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=8),
        ).flatmap(mutated),
    )
)
@example(b"\x00\x00\x00\x00\xff\xff\xff\xff")  # group length declaring 4 GB
def test_command_sets_parse_or_raise_a_network_error(raw: bytes) -> None:
    try:
        fields = parse_command(raw)
    except NetworkError as exc:
        assert "command set" in str(exc)
        return
    assert all(isinstance(value, bytes) for value in fields.values())


@settings(max_examples=examples(300))
@given(dimse_messages().flatmap(lambda raw: st.one_of(st.just(raw), mutated(raw))))
def test_message_reassembly_returns_a_message_or_raises_a_network_error(raw: bytes) -> None:
    stream = io.BufferedReader(io.BytesIO(raw))
    try:
        fields, dataset = read_message(stream)
    except NetworkError as exc:
        assert str(exc)
        return
    assert isinstance(fields, dict)
    assert dataset is None or isinstance(dataset, bytes)


# -- A-ASSOCIATE items -------------------------------------------------------------------------------
@settings(max_examples=examples(200))
@given(associate_requests())
def test_a_valid_associate_request_round_trips(rq: tuple[str, str, list[str], int, bytes]) -> None:
    called, calling, syntaxes, max_pdu, raw = rq
    (pdu_type, body), *rest = _read_all_pdus(raw)
    request = parse_associate_rq(pdu_type, body)
    assert not rest
    assert (request.called_ae_title, request.calling_ae_title) == (called, calling)
    assert [(n, abstract) for n, abstract, _ts in request.proposed] == [
        (context_id(number), abstract) for number, abstract in enumerate(syntaxes)
    ]
    assert request.peer_max_pdu == max_pdu


@settings(max_examples=examples(200))
@given(associate_accepts())
def test_a_valid_associate_accept_round_trips(ac: tuple[list[str], bytes]) -> None:
    syntaxes, raw = ac
    (pdu_type, body), *_rest = _read_all_pdus(raw)
    accepted, _peer_max_pdu = read_associate_ac(body, syntaxes)
    assert pdu_type == A_ASSOCIATE_AC
    assert set(accepted) == set(syntaxes)


@settings(max_examples=examples(800))
@given(
    st.one_of(
        associate_requests().flatmap(lambda rq: mutated(rq[4])),
        associate_accepts().flatmap(lambda ac: mutated(ac[1])),
        st.binary(max_size=300).map(lambda body: struct.pack(">BBI", A_ASSOCIATE_RQ, 0, len(body)) + body),
    ),
    abstract_syntax_lists,
)
def test_associate_items_parse_or_raise_a_network_error(raw: bytes, syntaxes: list[str]) -> None:
    body = raw[6:]
    for parse in (
        lambda: parse_associate_rq(raw[0] if raw else 0, body),
        lambda: read_associate_ac(body, syntaxes),
        lambda: sub_items(body),
    ):
        try:
            parsed = parse()
        except NetworkError as exc:
            assert str(exc)
            continue
        if isinstance(parsed, AssociateRequest):
            assert all(isinstance(n, int) and isinstance(a, str) for n, a, _ts in parsed.proposed)


@settings(max_examples=examples(100))
@given(st.binary(max_size=8))
# Found by this test: a rejection shorter than its 4 fixed bytes raised IndexError.
@example(b"")
@example(b"\x00")
def test_an_associate_reject_is_described_whatever_its_length(body: bytes) -> None:
    raw = struct.pack(">BBI", A_ASSOCIATE_RJ, 0, len(body)) + body
    (_pdu_type, received), *_rest = _read_all_pdus(raw)
    words = describe_rejection(received)
    assert ("rejected" in words or "result" in words) if len(body) >= 4 else "malformed" in words
