"""The lean C-FIND/C-MOVE requestor: framing, negotiation answers, and PACS that misbehave.

The happy paths run through every retrieval test (``demo`` is parametrised over both engines, and
the Orthanc and dcmqrscp tests use the default, native). Here: what only a hand-scripted peer can
show - a small maximum PDU, a PACS that goes silent, one that hangs up mid-move, one that accepts
no presentation context.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.dicom_network.errors import AssociationLost
from resources.dicom_network.requestor import NativeAssociation
from resources.dicom_network.upper_layer import (
    A_ASSOCIATE_AC,
    APPLICATION_CONTEXT,
    IMPLICIT_VR_LE,
    P_DATA_TF,
    encode_command,
    item,
    parse_command,
    pdu,
    pdv_pdus,
    read_pdu,
    sub_items,
    us,
)
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.errors import PacsRefusedError, PacsUnavailableError
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions
from resources.spool import SpoolStore
from resources.spool.pacs_index import IndexedSeries, IndexedStudy
from tests.peers import free_port
from tests.retrieval.conftest import LAKE_AE, Archive

FIND = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
QUICK = NetworkOptions(acse_timeout_s=2, dimse_timeout_s=1.0, network_timeout_s=1.0, connection_timeout_s=2)


def test_fragments_fit_the_peers_maximum_pdu_and_reassemble() -> None:
    payload = bytes(range(256)) * 9  # 2,304 bytes
    pdus = pdv_pdus(3, payload, command=False, max_pdu=1000)
    assert len(pdus) == 3
    rebuilt = b""
    for number, raw in enumerate(pdus):
        pdu_type, length = struct.unpack(">BxI", raw[:6])
        assert pdu_type == P_DATA_TF and length <= 1000 and len(raw) == 6 + length
        pdv_length, context_id, control = struct.unpack(">IBB", raw[6:12])
        assert context_id == 3 and pdv_length == length - 4
        assert control == (0x02 if number == len(pdus) - 1 else 0x00)  # dataset; last flag on the last only
        rebuilt += raw[12:]
    assert rebuilt == payload
    assert len(pdv_pdus(1, payload, command=True, max_pdu=0)) == 1  # 0: no limit


def test_a_study_moved_by_uid_list_through_a_small_maximum_pdu(archive: Archive, tmp_path: Path) -> None:
    """A C-MOVE identifier listing every instance of a study is split over several PDUs."""
    lake_port = free_port()
    small = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10, max_pdu=256)
    study = archive.with_rdsr
    with DemoPacs(
        archive.folder, "DEMO_PACS", known_destinations={LAKE_AE: ("127.0.0.1", lake_port)}, options=small
    ) as pacs:
        peer = PeerAddress("127.0.0.1", pacs.port, "DEMO_PACS", LAKE_AE)
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE"
        identifier.StudyInstanceUID = study.study_uid
        identifier.SeriesInstanceUID = ""
        identifier.SOPInstanceUID = list(study.sop_uids)
        assert len(encode(identifier, True, True) or b"") > 256  # two fragments or more
        spool = SpoolStore(tmp_path / "spool", fsync=False)
        retriever = PartitionRetriever(
            peer,
            small,
            RetrievalOptions(policy="full", move_destination_ae_title=LAKE_AE, storage_scp_port=lake_port),
            spool,
            "2026-11-09",
        )
        with retriever._storage_scp():
            association = NativeAssociation(peer, small, [MOVE]).open()
            try:
                responses = list(association.move(MOVE, identifier, LAKE_AE))
            finally:
                association.release()
        retriever.writer.close()
    final = responses[-1]
    assert final.status == 0x0000 and final.failed in (0, None)
    assert final.completed == len(study.sop_uids)
    assert sorted(r.sop_instance_uid for r in spool.instances("2026-11-09")) == sorted(study.sop_uids)


# -- hand-scripted PACS -------------------------------------------------------------------------------
Script = Callable[[socket.socket], None]


@pytest.fixture()
def scripted_pacs() -> Iterator[Callable[[Script], PeerAddress]]:
    """A one-connection PACS that accepts the association, then follows a script."""
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(script: Script) -> PeerAddress:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                script(connection)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return PeerAddress("127.0.0.1", server.getsockname()[1], "SCRIPTED", LAKE_AE)

    yield start
    for server in servers:
        server.close()
    for thread in threads:
        thread.join(timeout=5)


def accept_everything(connection: socket.socket, *, result: int = 0) -> bytes:
    """Read the A-ASSOCIATE-RQ and accept each proposed context (``result`` 3: refuse them all)."""
    stream = connection.makefile("rb")
    request = read_pdu(stream)
    assert request is not None and request[0] == 0x01
    body = request[1]
    items = item(0x10, APPLICATION_CONTEXT.encode())
    for item_type, value in sub_items(body, 68):
        if item_type == 0x20:
            items += item(0x21, bytes([value[0], 0, result, 0]) + item(0x40, IMPLICIT_VR_LE.encode()))
    items += item(0x50, item(0x51, struct.pack(">I", 16384)))
    connection.sendall(pdu(A_ASSOCIATE_AC, struct.pack(">HH", 1, 0) + body[4:68] + items))
    return body


def read_request(connection: socket.socket) -> dict[int, bytes]:
    """Read one request (command + dataset PDUs) and return its command set."""
    stream = connection.makefile("rb")
    fields: dict[int, bytes] = {}
    while True:
        received = read_pdu(stream)
        assert received is not None and received[0] == P_DATA_TF
        body = received[1]
        control = body[5]
        if control & 0x01:
            fields = parse_command(body[6:])
        elif control & 0x02:
            return fields


def move_response(message_id: int, status: int, completed: int, remaining: int) -> bytes:
    command = encode_command(
        [
            (0x0002, MOVE.encode() + b"\0"),
            (0x0100, us(0x8021)),
            (0x0120, us(message_id)),
            (0x0800, us(0x0101)),
            (0x0900, us(status)),
            (0x1020, us(remaining)),
            (0x1021, us(completed)),
            (0x1022, us(0)),
            (0x1023, us(0)),
        ]
    )
    return b"".join(pdv_pdus(1, command, command=True, max_pdu=16384))


def test_a_pacs_that_goes_silent_times_out_with_a_clear_error(
    scripted_pacs: Callable[[Script], PeerAddress],
) -> None:
    def silent(connection: socket.socket) -> None:
        accept_everything(connection)
        time.sleep(3)

    peer = scripted_pacs(silent)
    began = time.monotonic()
    with (
        PacsQuerier(peer, QUICK) as querier,
        pytest.raises(PacsUnavailableError, match="aborted or timed out"),
    ):
        querier._find_once(_study_query(), first_try=False)
    assert time.monotonic() - began < 2.5  # the DIMSE timeout (1 s), not the script's 3 s


def test_a_pacs_hanging_up_mid_move_is_a_move_without_final_response(
    scripted_pacs: Callable[[Script], PeerAddress],
) -> None:
    def hang_up_after_two(connection: socket.socket) -> None:
        accept_everything(connection)
        fields = read_request(connection)
        assert fields[0x0600].strip() == LAKE_AE.encode()  # the move destination we asked for
        message_id = struct.unpack("<H", fields[0x0110])[0]
        connection.sendall(move_response(message_id, 0xFF00, 1, 9))
        connection.sendall(move_response(message_id, 0xFF00, 2, 8))
        connection.shutdown(socket.SHUT_RDWR)

    peer = scripted_pacs(hang_up_after_two)
    association = NativeAssociation(peer, QUICK, [MOVE]).open()
    seen = []
    with pytest.raises(AssociationLost, match="closed the connection"):
        for response in association.move(MOVE, _study_query(), LAKE_AE):
            seen.append((response.status, response.completed, response.remaining))
    assert seen == [(0xFF00, 1, 9), (0xFF00, 2, 8)]
    assert not association.is_established


def test_the_retriever_reports_a_lost_move_and_keeps_nothing_half_done(
    scripted_pacs: Callable[[Script], PeerAddress], tmp_path: Path
) -> None:
    def hang_up(connection: socket.socket) -> None:
        accept_everything(connection)
        fields = read_request(connection)
        connection.sendall(move_response(struct.unpack("<H", fields[0x0110])[0], 0xFF00, 0, 5))
        connection.close()

    peer = scripted_pacs(hang_up)
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    retriever = PartitionRetriever(
        peer,
        QUICK,
        RetrievalOptions(policy="full", max_retries=0, storage_scp_port=0),
        spool,
        "2026-11-09",
        sleep=lambda s: None,
    )
    series = IndexedSeries("1.2.3.4.1", "1.2.3.4", "CT", 1, None, None, 5, False)
    study = IndexedStudy(study_uid="1.2.3.4", modalities=("CT",), n_instances=5, series=(series,))
    with pytest.raises(PacsUnavailableError, match="got no final response"):
        retriever.retrieve([study])
    assert spool.instances("2026-11-09") == []


def test_a_pacs_accepting_no_context_is_refused_clearly(
    scripted_pacs: Callable[[Script], PeerAddress],
) -> None:
    peer = scripted_pacs(lambda connection: (accept_everything(connection, result=3), time.sleep(0.5)))
    with pytest.raises(PacsRefusedError, match="accepted none of the 1 proposed presentation contexts"):
        NativeAssociation(peer, QUICK, [FIND]).open()


def test_nothing_listening_is_unavailable_naming_the_pacs() -> None:
    peer = PeerAddress("127.0.0.1", free_port(), "NOBODY", LAKE_AE)
    with pytest.raises(PacsUnavailableError, match=r"NOBODY@127\.0\.0\.1"):
        NativeAssociation(peer, QUICK, [FIND]).open()


def _study_query() -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.3.4"
    return query
