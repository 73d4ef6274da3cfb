"""A lean DICOM upper-layer acceptor for C-STORE and C-ECHO: the listener's fast receive path.

pynetdicom runs two polling threads per association (each sleeping about 1 ms per turn), which caps
one association at a few hundred instances per second. This acceptor reads PDUs straight from the
socket in the connection's thread: A-ASSOCIATE-RQ -> AC/RJ (PS3.8 9.3.2-9.3.4), P-DATA-TF fragments
reassembled into the command set and the dataset (PS3.8 9.3.5, PS3.7 Annex E), a C-STORE-RSP or
C-ECHO-RSP command back (PS3.7 9.3.1, 9.3.5), A-RELEASE and A-ABORT (PS3.8 9.3.6-9.3.8). Datasets are
never decoded here: the bytes as sent, with a Part 10 file meta header in front, go to the
receiver callback, which decides the status.

Only what a storage SCP needs is implemented: no SCU role, no extended negotiation (those
sub-items are ignored, so the defaults apply), no asynchronous operations (one message at a time).

Also used as the C-MOVE destination of a retrieval (:mod:`resources.pacs.storage_scp`), where the
calling and called AE titles are not checked (the PACS's own title is whatever it is configured with)
and a receiver may raise :class:`AbortAssociation` to abort the sending association.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import socketserver
import ssl
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, cast

from resources.dicom_network.upper_layer import (
    APPLICATION_CONTEXT,
    EXPLICIT_VR_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    IMPLICIT_VR_LE,
    NO_DATASET,
    OUR_MAX_PDU,
    VERIFICATION,
    ProtocolViolation,
    encode_command,
    item,
    parse_command,
    pdu,
    read_pdu,
    sub_items,
    text,
    uid_bytes,
    us,
)

log = logging.getLogger(__name__)

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030

# A-ASSOCIATE-RJ (result, source, reason) - PS3.8 9.3.4
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_NO_REASON = (0x01, 0x01, 0x01)
REJECT_TOO_MANY = (0x02, 0x03, 0x02)  # transient, local limit exceeded


class Receiver(Protocol):
    """What the acceptor calls: the listener's receive path and its association log lines."""

    def receive(self, encoded: bytes, sop_instance_uid: str, sop_class_uid: str, calling_ae: str) -> int: ...

    def association_accepted(self, peer: str) -> None: ...

    def association_rejected(self, peer: str, reason: str) -> None: ...

    def association_finished(self, peer: str, how: str, instances: int) -> None: ...

    def host_refused(self, host: str) -> None: ...


class AbortAssociation(ProtocolViolation):
    """Raised by a receiver to abort the association it is receiving on (A-ABORT to the peer)."""


@dataclass(frozen=True)
class AcceptorSettings:
    ae_title: str
    allowed_calling_ae_titles: frozenset[str]
    allowed_hosts: frozenset[str]
    max_associations: int
    sop_classes: frozenset[str]
    transfer_syntaxes: tuple[str, ...]
    tcp_nodelay: bool = True
    acse_timeout_s: float = 30.0
    network_timeout_s: float = 120.0
    # A C-MOVE destination serves whichever AE title the PACS calls with (pynetdicom's defaults).
    check_calling_ae_title: bool = True
    check_called_ae_title: bool = True


@dataclass
class _Association:
    calling_ae: str
    peer: str
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (abstract, transfer)
    peer_max_pdu: int = 0
    instances: int = 0


# -- encoding helpers -------------------------------------------------------------------------------
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


# -- the acceptor -------------------------------------------------------------------------------------
class NativeAcceptor:
    """Serves associations on a listening socket; one thread per association."""

    def __init__(
        self,
        settings: AcceptorSettings,
        receiver: Receiver,
        *,
        bind: tuple[str, int],
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        thread_name: str = "listener-accept",
        poll_interval_s: float = 0.5,
        listening_socket: socket.socket | None = None,
        one_at_a_time: bool = False,
    ) -> None:
        """Serve on ``bind``, or on ``listening_socket`` (already bound and listening) when given.

        ``one_at_a_time`` serves each association to its end before accepting the next, in the serving
        thread: what a receiving process sharing a listening socket with others does, so that a busy
        process leaves new associations to an idle one.
        """
        self.settings = settings
        self.receiver = receiver
        self.ssl_context = ssl_context
        self._active = 0
        self._lock = threading.Lock()
        acceptor = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                acceptor._serve_connection(self.request, self.client_address)

        base: type[socketserver.TCPServer] = (
            socketserver.TCPServer if one_at_a_time else socketserver.ThreadingTCPServer
        )

        class Server(base):  # type: ignore[valid-type,misc]
            daemon_threads = True
            allow_reuse_address = True
            allow_reuse_port = reuse_port
            request_queue_size = 128

            def verify_request(self, request: Any, client_address: Any) -> bool:
                host = str(client_address[0])
                if settings.allowed_hosts and host not in settings.allowed_hosts:
                    receiver.host_refused(host)
                    return False
                return True

        if listening_socket is None:
            self._server = Server(bind, Handler)
        else:
            self._server = Server(listening_socket.getsockname()[:2], Handler, bind_and_activate=False)
            self._server.socket.close()
            self._server.socket = listening_socket
        self.port = int(self._server.server_address[1])
        # A short poll interval makes shutdown() quick (it waits for the serving loop's next turn).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": poll_interval_s},
            name=thread_name,
            daemon=True,
        )

    def start(self) -> int:
        self._thread.start()
        return self.port

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- one connection ---------------------------------------------------------------------------
    def _serve_connection(self, raw_socket: socket.socket, address: tuple[str, int]) -> None:
        if self.settings.tcp_nodelay:
            with contextlib.suppress(OSError):
                raw_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw_socket
        peer = f"?@{address[0]}:{address[1]}"
        try:
            sock.settimeout(self.settings.acse_timeout_s)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(raw_socket, server_side=True)
            stream = cast(BinaryIO, sock.makefile("rb", buffering=1 << 18))
            association = self._negotiate(sock, stream, address)
            if association is None:
                return
            try:
                sock.settimeout(self.settings.network_timeout_s)
                how = self._serve_messages(sock, stream, association)
            except (ProtocolViolation, OSError, ValueError, struct.error) as exc:
                how = f"aborted ({type(exc).__name__}: {exc})"
                with contextlib.suppress(OSError):
                    sock.sendall(pdu(0x07, b"\0\0\x02\x00"))  # A-ABORT, source: service provider
            finally:
                with self._lock:
                    self._active -= 1
            self.receiver.association_finished(association.peer, how, association.instances)
        except (OSError, ProtocolViolation, ValueError, struct.error) as exc:
            log.warning("connection from %s closed during association set-up: %s", peer, type(exc).__name__)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _reject(self, sock: socket.socket, peer: str, why: tuple[int, int, int], reason: str) -> None:
        result, source, diagnostic = why
        sock.sendall(pdu(0x03, bytes([0, result, source, diagnostic])))
        self.receiver.association_rejected(peer, reason)

    def _negotiate(
        self, sock: socket.socket, stream: BinaryIO, address: tuple[str, int]
    ) -> _Association | None:
        received = read_pdu(stream)
        if received is None:
            return None
        pdu_type, body = received
        if pdu_type != 0x01 or len(body) < 68:
            raise ProtocolViolation("expected an A-ASSOCIATE-RQ")
        called_raw, calling_raw = body[4:20], body[20:36]
        called, calling = text(called_raw), text(calling_raw)
        peer = f"{calling}@{address[0]}:{address[1]}"
        proposed: list[tuple[int, str, list[str]]] = []
        peer_max_pdu = 0
        for item_type, value in sub_items(body, 68):
            if item_type == 0x20 and value:
                abstract, syntaxes = "", []
                for sub_type, uid in sub_items(value, 4):
                    if sub_type == 0x30:
                        abstract = text(uid)
                    elif sub_type == 0x40:
                        syntaxes.append(text(uid))
                proposed.append((value[0], abstract, syntaxes))
            elif item_type == 0x50:
                for sub_type, sub_value in sub_items(value):
                    if sub_type == 0x51 and len(sub_value) == 4:
                        peer_max_pdu = struct.unpack(">I", sub_value)[0]

        if self.settings.check_called_ae_title and called != self.settings.ae_title:
            self._reject(sock, peer, REJECT_CALLED_AE, "called AE title is not ours")
            return None
        if self.settings.check_calling_ae_title and calling not in self.settings.allowed_calling_ae_titles:
            self._reject(
                sock, peer, REJECT_CALLING_AE, "calling AE title not in listener.allowed_calling_ae_titles"
            )
            return None
        with self._lock:
            if self._active >= self.settings.max_associations:
                too_many = True
            else:
                too_many = False
                self._active += 1
        if too_many:
            self._reject(sock, peer, REJECT_TOO_MANY, "too many associations (listener.max_associations)")
            return None

        association = _Association(calling_ae=calling, peer=peer, peer_max_pdu=peer_max_pdu)
        items = item(0x10, APPLICATION_CONTEXT.encode())
        for context_id, abstract, syntaxes in proposed:
            if abstract == VERIFICATION:
                acceptable: tuple[str, ...] = (IMPLICIT_VR_LE, EXPLICIT_VR_LE)
            elif abstract in self.settings.sop_classes:
                acceptable = self.settings.transfer_syntaxes
            else:
                acceptable = ()
            chosen = next((ts for ts in syntaxes if ts in acceptable), None)
            if not acceptable:
                result, reply_ts = 0x03, syntaxes[0] if syntaxes else IMPLICIT_VR_LE  # abstract syntax
            elif chosen is None:
                result, reply_ts = 0x04, syntaxes[0] if syntaxes else IMPLICIT_VR_LE  # transfer syntaxes
            else:
                result, reply_ts = 0x00, chosen
                association.contexts[context_id] = (abstract, chosen)
            items += item(0x21, bytes([context_id, 0, result, 0]) + item(0x40, reply_ts.encode()))
        user_info = (
            item(0x51, struct.pack(">I", OUR_MAX_PDU))
            + item(0x52, IMPLEMENTATION_CLASS_UID.encode())
            + item(0x55, IMPLEMENTATION_VERSION.encode())
        )
        items += item(0x50, user_info)
        header = struct.pack(">HH", 1, 0) + called_raw + calling_raw + body[36:68]
        sock.sendall(pdu(0x02, header + items))
        self.receiver.association_accepted(peer)
        return association

    def _serve_messages(self, sock: socket.socket, stream: BinaryIO, association: _Association) -> str:
        command = bytearray()
        dataset: list[bytes] = []
        fields: dict[int, bytes] | None = None
        context_id = 0
        while True:
            received = read_pdu(stream)
            if received is None:
                return "closed by the peer without release"
            pdu_type, body = received
            if pdu_type == 0x05:  # A-RELEASE-RQ
                sock.sendall(pdu(0x06, b"\0\0\0\0"))
                return "released"
            if pdu_type == 0x07:
                return "aborted by the peer"
            if pdu_type != 0x04:
                raise ProtocolViolation(f"unexpected PDU type 0x{pdu_type:02x}")
            offset = 0
            while offset + 6 <= len(body):
                length = struct.unpack_from(">I", body, offset)[0]
                context_id, control = body[offset + 4], body[offset + 5]
                fragment = body[offset + 6 : offset + 4 + length]
                offset += 4 + length
                if control & 0x01:  # command fragment
                    command += fragment
                    if control & 0x02:
                        fields = parse_command(bytes(command))
                        command.clear()
                        if struct.unpack("<H", fields.get(0x0800, b"\x01\x01"))[0] == NO_DATASET:
                            self._answer(sock, association, context_id, fields, None)
                            fields = None
                else:
                    dataset.append(fragment)
                    if control & 0x02:
                        if fields is None:
                            raise ProtocolViolation("a dataset arrived without its command")
                        self._answer(sock, association, context_id, fields, dataset)
                        dataset = []
                        fields = None

    def _answer(
        self,
        sock: socket.socket,
        association: _Association,
        context_id: int,
        fields: dict[int, bytes],
        dataset: list[bytes] | None,
    ) -> None:
        command_field = struct.unpack("<H", fields.get(0x0100, b"\0\0"))[0]
        message_id = struct.unpack("<H", fields.get(0x0110, b"\0\0"))[0]
        sop_class = text(fields.get(0x0002, b""))
        if context_id not in association.contexts:
            raise ProtocolViolation(f"presentation context {context_id} was not accepted")
        if command_field == C_ECHO_RQ:
            response = encode_response(C_ECHO_RSP, message_id, sop_class or VERIFICATION, 0x0000, None)
        elif command_field == C_STORE_RQ and dataset is not None:
            sop_instance = text(fields.get(0x1000, b""))
            transfer_syntax = association.contexts[context_id][1]
            encoded = b"".join(
                [file_meta(sop_class, sop_instance, transfer_syntax, association.calling_ae), *dataset]
            )
            status = self.receiver.receive(encoded, sop_instance, sop_class, association.calling_ae)
            if status == 0x0000:
                association.instances += 1
            response = encode_response(C_STORE_RSP, message_id, sop_class, status, sop_instance)
        else:
            raise ProtocolViolation(f"unsupported DIMSE command 0x{command_field:04x}")
        pdv = struct.pack(">IBB", len(response) + 2, context_id, 0x03) + response
        sock.sendall(pdu(0x04, pdv))


def acceptor_settings(
    settings: Any, sop_classes: tuple[str, ...], transfer_syntaxes: tuple[str, ...]
) -> AcceptorSettings:
    """Acceptor settings from the listener section of the site file."""
    return AcceptorSettings(
        ae_title=settings.ae_title.strip(),
        allowed_calling_ae_titles=frozenset(t.strip() for t in settings.allowed_calling_ae_titles),
        allowed_hosts=frozenset(settings.allowed_hosts),
        max_associations=settings.max_associations,
        sop_classes=frozenset(sop_classes),
        transfer_syntaxes=transfer_syntaxes,
        tcp_nodelay=settings.tcp_nodelay,
    )
