"""A server-side socket that bounds what a peer can make pynetdicom read, for the pynetdicom engine.

pynetdicom reads a PDU by asking its socket for the declared length, in a blocking loop: a header
declaring 4 GB is read to its end, and a PDU stopped half way holds the association's thread forever
(the accepted socket has no timeout, and pynetdicom's ARTIM timer is not looked at while it reads).
pynetdicom has no setting for either, and its parser accepts some malformed requests (no presentation
context, no application context) and leaves others unanswered (an even context ID raises in its
reactor thread). So the engine hands it this socket instead: it follows the PDU framing of what it
passes up (arithmetic on the bytes already received, no extra system call) and

- refuses a PDU whose header declares more than the bound where it arrives (the first PDU: the
  request limit, answered with A-ASSOCIATE-RJ; after it: the maximum PDU length we advertise, answered
  with A-ABORT), before any of its body is read;
- reads the first PDU as the native acceptor does: anything but an A-ASSOCIATE-RQ is aborted on its
  header, and the request is checked by :func:`parse_associate_rq` and :func:`rejection_of` before
  its last bytes reach pynetdicom (answered as the table of :mod:`resources.dicom_network.negotiation`
  says; AE titles, contexts and the association count stay pynetdicom's to decide);
- reads the first PDU against one deadline (the ACSE timeout, counted from the accept), then every
  read against the network timeout;
- frees its place among the connections still setting up (:class:`PendingConnections`) once the
  first PDU is read or the socket closes, whichever comes first.

A refused or timed-out read shuts the connection down and returns no bytes, which pynetdicom takes for
the peer closing the transport (its event 17).
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from resources.dicom_network.admission import PendingConnections
from resources.dicom_network.errors import MalformedPdu
from resources.dicom_network.negotiation import (
    REJECT_TOO_LARGE,
    encode_associate_rj,
    parse_associate_rq,
    rejection_of,
)
from resources.dicom_network.upper_layer import (
    A_ABORT,
    A_ASSOCIATE_RQ,
    ABORT_INVALID_PARAMETER,
    PDU_HEADER,
    encode_abort,
    unexpected_pdu,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PduBounds:
    """The bounds and timeouts a :class:`BoundedSocket` applies."""

    max_associate_request: int
    max_pdu: int
    acse_timeout_s: float
    network_timeout_s: float


class _Bounded:
    """The framing tracker shared by the plain and the TLS socket classes (mixed in before them)."""

    # Until bound() is called (an SSLContext may create one before), reads pass through unchanged.
    _bounds: PduBounds | None = None
    _pending: PendingConnections | None = None
    _deadline: float | None = None
    _header: bytearray
    _left: int
    _request: bytearray  # the first PDU's body, checked once whole
    _lock: threading.Lock

    def bound(self, bounds: PduBounds, pending: PendingConnections | None, accepted_at: float) -> None:
        """Start applying ``bounds``; ``pending`` holds a place taken for this connection (or None)."""
        self._bounds, self._pending = bounds, pending
        self._deadline = accepted_at + bounds.acse_timeout_s
        self._header, self._left, self._request = bytearray(), 0, bytearray()
        self._lock = threading.Lock()

    def _release_pending(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.release()

    def _give_up(self, answer: bytes | None, why: str) -> bytes:
        log.warning("connection from %s refused: %s", _address(self), why)
        base: Any = super()
        try:
            if answer is not None:
                base.sendall(answer)
            base.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._deadline = None  # what follows is the end of the stream
        self._release_pending()
        return b""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        base: Any = super()
        if self._bounds is None:
            return bytes(base.recv(bufsize, flags))
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                return self._give_up(None, "ACSE timeout: no complete A-ASSOCIATE-RQ in time")
            base.settimeout(left)
        try:
            data: bytes = base.recv(bufsize, flags)
        except TimeoutError:
            if self._deadline is not None:
                return self._give_up(None, "ACSE timeout: no complete A-ASSOCIATE-RQ in time")
            raise
        if data:
            return self._follow(data)
        if self._deadline is not None and (self._header or self._left):
            return self._give_up(encode_abort(ABORT_INVALID_PARAMETER), "closed inside its A-ASSOCIATE-RQ")
        return data

    def _follow(self, data: bytes) -> bytes:
        position, size = 0, len(data)
        while position < size:
            if self._left:
                taken = min(self._left, size - position)
                if self._deadline is not None:
                    self._request += data[position : position + taken]
                self._left -= taken
                position += taken
                if not self._left and not self._pdu_read():
                    return b""
                continue
            wanted = PDU_HEADER - len(self._header)
            self._header += data[position : position + wanted]
            position += wanted
            if len(self._header) < PDU_HEADER:
                break
            pdu_type, length = struct.unpack(">BxI", self._header)
            self._header.clear()
            assert self._bounds is not None
            first = self._deadline is not None
            if first and pdu_type == A_ABORT:
                self._set_up()  # the peer gives up: pynetdicom closes
                first = False
            elif first and pdu_type != A_ASSOCIATE_RQ:
                refused = unexpected_pdu(pdu_type, "before an association")
                return self._give_up(encode_abort(refused.abort_reason), str(refused))
            limit = self._bounds.max_associate_request if first else self._bounds.max_pdu
            if length > limit:
                answer = (
                    encode_associate_rj(REJECT_TOO_LARGE) if first else encode_abort(ABORT_INVALID_PARAMETER)
                )
                why = f"PDU type 0x{pdu_type:02x} declares {length} bytes (limit {limit})"
                return self._give_up(answer, why)
            self._left = length
            if not length and not self._pdu_read():
                return b""
        return data

    def _pdu_read(self) -> bool:
        """End of a PDU: after the first, check the request and start the network timeout.

        Returns False when the request was refused (and the connection shut down).
        """
        if self._deadline is None:
            return True
        try:
            rejection = rejection_of(parse_associate_rq(A_ASSOCIATE_RQ, bytes(self._request)))
        except MalformedPdu as exc:
            self._give_up(encode_abort(exc.abort_reason), str(exc))
            return False
        if rejection is not None:
            self._give_up(encode_associate_rj(rejection[0]), rejection[1])
            return False
        self._set_up()
        return True

    def _set_up(self) -> None:
        self._deadline, self._request = None, bytearray()
        base: Any = super()
        assert self._bounds is not None
        base.settimeout(self._bounds.network_timeout_s)
        self._release_pending()

    def close(self) -> None:
        self._release_pending()
        base: Any = super()
        base.close()


def _address(sock: Any) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "a closed connection"
    return f"{host}:{port}"


class BoundedSocket(_Bounded, socket.socket):
    """A plain TCP connection under :class:`PduBounds`."""

    @classmethod
    def adopt(
        cls, raw: socket.socket, bounds: PduBounds, pending: PendingConnections | None, accepted_at: float
    ) -> BoundedSocket:
        """The connection of ``raw`` (which is detached and must not be used again) under ``bounds``."""
        adopted = cls(raw.family, raw.type, raw.proto, fileno=raw.detach())
        adopted.bound(bounds, pending, accepted_at)
        return adopted


# recv's first parameter is named bufsize by socket.socket and buflen by ssl.SSLSocket; pynetdicom passes it
# by position.
class BoundedSSLSocket(_Bounded, ssl.SSLSocket):  # type: ignore[misc]
    """A TLS connection under :class:`PduBounds` (an ``SSLContext.sslsocket_class``; call ``bound``)."""
