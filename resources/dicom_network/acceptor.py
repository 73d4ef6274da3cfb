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
and a receiver may raise :class:`~resources.dicom_network.errors.AbortAssociation` to abort the
sending association. Timeouts come from :class:`AcceptorSettings.association`: the ACSE timeout for the
whole TLS handshake and A-ASSOCIATE-RQ (one deadline), the DIMSE timeout while a dataset announced by
its command is arriving, the network timeout on an idle association or a PDU stopped half way.

Reads are bounded by arithmetic on the header already read (no extra system call), and a declared
length over its bound is never read: a request by ``max_associate_request`` (A-ASSOCIATE-RJ), then a
P-DATA-TF by the maximum PDU length we advertise and a command set by ``MAX_COMMAND_SET`` (A-ABORT).
Malformed requests are answered at once (table in :mod:`resources.dicom_network.negotiation`);
connections still setting up are counted and past ``max_pending_connections`` refused.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from resources.dicom_network.acceptor_settings import AcceptorSettings, Receiver
from resources.dicom_network.admission import (
    PendingConnections,
    read_associate_request,
    refuse,
    tls_handshake,
)
from resources.dicom_network.association_settings import set_tcp_nodelay
from resources.dicom_network.errors import MalformedPdu, PduTooLarge, ProtocolViolation
from resources.dicom_network.file_meta import file_meta
from resources.dicom_network.negotiation import (
    REJECT_CALLED_AE,
    REJECT_CALLING_AE,
    REJECT_TOO_LARGE,
    REJECT_TOO_MANY,
    AssociateRequest,
    choose_contexts,
    encode_associate_ac,
    encode_associate_rj,
    parse_associate_rq,
    rejection_of,
)
from resources.dicom_network.status import GeneralStatus, StoreStatus
from resources.dicom_network.upper_layer import (
    A_ABORT,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    ABORT_REASON_NOT_SPECIFIED,
    MAX_COMMAND_SET,
    NO_DATASET,
    OUR_MAX_PDU,
    P_DATA_TF,
    PDV_COMMAND,
    PDV_LAST,
    VERIFICATION,
    CommandField,
    command_us,
    encode_abort,
    encode_response,
    parse_command,
    pdu,
    read_pdu,
    text,
    unexpected_pdu,
)

log = logging.getLogger(__name__)


@dataclass
class _Association:
    calling_ae: str
    peer: str
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (abstract, transfer)
    peer_max_pdu: int = 0
    instances: int = 0


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
        self.pending = PendingConnections(settings.pending_limit)
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
                if not acceptor.pending.take():
                    refuse(request, tls=ssl_context is not None)
                    receiver.association_rejected(
                        f"?@{host}:{client_address[1]}",
                        f"{acceptor.pending.limit} connections still setting up "
                        "(listener.max_pending_connections)",
                    )
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
        timeouts = self.settings.association
        if timeouts.tcp_nodelay:
            set_tcp_nodelay(raw_socket)
        sock: socket.socket = raw_socket
        peer = f"?@{address[0]}:{address[1]}"
        try:
            try:
                deadline = time.monotonic() + timeouts.acse_timeout_s
                if self.ssl_context is not None:
                    sock = tls_handshake(self.ssl_context, raw_socket, deadline)
                association = self._negotiate(sock, address, deadline)
            finally:
                # Before the socket closes: whoever sees the close may count on the slot being free.
                self.pending.release()
            if association is None:
                return
            try:
                sock.settimeout(timeouts.network_timeout_s)
                stream = cast(BinaryIO, sock.makefile("rb", buffering=1 << 18))
                how = self._serve_messages(sock, stream, association)
            except (ProtocolViolation, OSError, ValueError, struct.error) as exc:
                how = f"aborted ({type(exc).__name__}: {exc})"
                reason = exc.abort_reason if isinstance(exc, MalformedPdu) else ABORT_REASON_NOT_SPECIFIED
                with contextlib.suppress(OSError):
                    sock.sendall(encode_abort(reason))
            finally:
                with self._lock:
                    self._active -= 1
            self.receiver.association_finished(association.peer, how, association.instances)
        except (OSError, ProtocolViolation, ValueError, struct.error) as exc:
            log.warning(
                "connection from %s closed during association set-up: %s: %s", peer, type(exc).__name__, exc
            )
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _reject(self, sock: socket.socket, peer: str, why: tuple[int, int, int], reason: str) -> None:
        sock.sendall(encode_associate_rj(why))
        self.receiver.association_rejected(peer, reason)

    def _admitted(self, sock: socket.socket, request: AssociateRequest, peer: str) -> bool:
        """Whether the AE titles and the association count allow ``request`` (else it is rejected)."""
        if self.settings.check_called_ae_title and request.called_ae_title != self.settings.ae_title:
            self._reject(sock, peer, REJECT_CALLED_AE, "called AE title is not ours")
            return False
        if (
            self.settings.check_calling_ae_title
            and request.calling_ae_title not in self.settings.allowed_calling_ae_titles
        ):
            self._reject(
                sock, peer, REJECT_CALLING_AE, "calling AE title not in listener.allowed_calling_ae_titles"
            )
            return False
        with self._lock:
            too_many = self._active >= self.settings.max_associations
            if not too_many:
                self._active += 1
        if too_many:
            self._reject(sock, peer, REJECT_TOO_MANY, "too many associations (listener.max_associations)")
            return False
        return True

    def _abort_set_up(self, sock: socket.socket, peer: str, exc: MalformedPdu) -> None:
        sock.sendall(encode_abort(exc.abort_reason))
        self.receiver.association_rejected(peer, f"aborted: {exc}")

    def _negotiate(
        self, sock: socket.socket, address: tuple[str, int], deadline: float
    ) -> _Association | None:
        peer = f"?@{address[0]}:{address[1]}"
        try:
            received = read_associate_request(sock, deadline, self.settings.max_associate_request)
            if received is None:
                return None
            request = parse_associate_rq(*received)
        except PduTooLarge as exc:
            self._reject(sock, peer, REJECT_TOO_LARGE, f"{exc} (A-ASSOCIATE-RQ limit)")
            return None
        except MalformedPdu as exc:
            self._abort_set_up(sock, peer, exc)
            return None
        calling = request.calling_ae_title
        peer = f"{calling}@{address[0]}:{address[1]}"
        rejection = rejection_of(request)
        if rejection is not None:
            self._reject(sock, peer, *rejection)
            return None
        if not self._admitted(sock, request, peer):
            return None
        association = _Association(calling_ae=calling, peer=peer, peer_max_pdu=request.peer_max_pdu)
        results, association.contexts = choose_contexts(
            request, self.settings.sop_classes, self.settings.transfer_syntaxes
        )
        sock.sendall(encode_associate_ac(request, results, OUR_MAX_PDU))
        self.receiver.association_accepted(peer)
        return association

    def _serve_messages(self, sock: socket.socket, stream: BinaryIO, association: _Association) -> str:
        timeouts = self.settings.association
        command = bytearray()
        dataset: list[bytes] = []
        fields: dict[int, bytes] | None = None
        context_id = 0
        while True:
            # The bound is what we advertised in our A-ASSOCIATE-AC (PS3.8 D.1: the variable field).
            received = read_pdu(stream, OUR_MAX_PDU)
            if received is None:
                return "closed by the peer without release"
            pdu_type, body = received
            if pdu_type == A_RELEASE_RQ:
                self.receiver.release_requested()  # what was acknowledged is filed by then
                sock.sendall(pdu(A_RELEASE_RP, b"\0\0\0\0"))
                return "released"
            if pdu_type == A_ABORT:
                return "aborted by the peer"
            if pdu_type != P_DATA_TF:
                raise unexpected_pdu(pdu_type, "in an association")
            offset, end = 0, len(body)
            while offset < end:
                length = struct.unpack_from(">I", body, offset)[0] if offset + 6 <= end else 0
                if length < 2 or offset + 4 + length > end:
                    raise MalformedPdu(f"a PDV item at byte {offset} runs past the end of its P-DATA-TF")
                context_id, control = body[offset + 4], body[offset + 5]
                fragment = body[offset + 6 : offset + 4 + length]
                offset += 4 + length
                if control & PDV_COMMAND:
                    command += fragment
                    if len(command) > MAX_COMMAND_SET:
                        raise MalformedPdu(f"a command set over {MAX_COMMAND_SET} bytes")
                    if control & PDV_LAST:
                        fields = parse_command(bytes(command))
                        command.clear()
                        if command_us(fields, 0x0800, NO_DATASET) == NO_DATASET:
                            self._answer(sock, association, context_id, fields, None)
                            fields = None
                        else:
                            # A message under way: its dataset must follow within the DIMSE timeout.
                            sock.settimeout(timeouts.dimse_timeout_s)
                else:
                    dataset.append(fragment)
                    if control & PDV_LAST:
                        if fields is None:
                            raise ProtocolViolation("a dataset arrived without its command")
                        self._answer(sock, association, context_id, fields, dataset)
                        dataset = []
                        fields = None
                        sock.settimeout(timeouts.network_timeout_s)

    def _answer(
        self,
        sock: socket.socket,
        association: _Association,
        context_id: int,
        fields: dict[int, bytes],
        dataset: list[bytes] | None,
    ) -> None:
        command_field = command_us(fields, 0x0100)
        message_id = command_us(fields, 0x0110)
        sop_class = text(fields.get(0x0002, b""))
        if context_id not in association.contexts:
            raise ProtocolViolation(f"presentation context {context_id} was not accepted")
        if command_field == CommandField.C_ECHO_RQ:
            response = encode_response(
                CommandField.C_ECHO_RSP, message_id, sop_class or VERIFICATION, GeneralStatus.SUCCESS, None
            )
        elif command_field == CommandField.C_STORE_RQ and dataset is not None:
            sop_instance = text(fields.get(0x1000, b""))
            transfer_syntax = association.contexts[context_id][1]
            encoded = b"".join(
                [file_meta(sop_class, sop_instance, transfer_syntax, association.calling_ae), *dataset]
            )
            status = self.receiver.receive(encoded, sop_instance, sop_class, association.calling_ae)
            if status == StoreStatus.SUCCESS:
                association.instances += 1
            response = encode_response(CommandField.C_STORE_RSP, message_id, sop_class, status, sop_instance)
        else:
            raise ProtocolViolation(f"unsupported DIMSE command 0x{command_field:04x}")
        pdv = struct.pack(">IBB", len(response) + 2, context_id, PDV_COMMAND | PDV_LAST) + response
        sock.sendall(pdu(P_DATA_TF, pdv))
