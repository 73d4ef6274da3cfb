"""Admission of a new connection, before any association exists: counted, bounded, and on a deadline.

A connection that has not finished its TLS handshake and A-ASSOCIATE-RQ costs a thread and a socket but
is not an association yet, so ``max_associations`` does not see it. :class:`PendingConnections` counts
those; past its limit a new connection is refused at once. The request itself is read by
:func:`read_associate_request` straight from the socket, against one deadline for the whole of it (the
ACSE timeout: a peer that trickles one byte per timeout cannot hold the connection), and with its
declared length checked against a small limit before any of the body is read.

Why 64 KiB for a request (:data:`MAX_ASSOCIATE_REQUEST`): A-ASSOCIATE items are small (PS3.8 9.3.2).
A request proposing the most presentation contexts the odd IDs 1-255 allow (128), each with eight
transfer syntaxes of standard UIDs (about 240 bytes a context), plus SCU/SCP role selection and
extended negotiation sub-items for each SOP class (about 70 bytes each), is about 40 KiB. Real senders
propose far less (dcmtk ``storescu -R``: one context per SOP class in the files sent).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time

from resources.dicom_network.errors import MalformedPdu, PduTooLarge, SetupTimeout
from resources.dicom_network.negotiation import REJECT_TOO_MANY, encode_associate_rj
from resources.dicom_network.upper_layer import (
    A_ABORT,
    A_ASSOCIATE_RQ,
    PDU_HEADER,
    unexpected_pdu,
)

MAX_ASSOCIATE_REQUEST = 65536


class PendingConnections:
    """A count of connections still setting up, with a limit; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Count one more connection, or return False (nothing counted) when the limit is reached."""
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        return self._count


def refuse(sock: socket.socket, *, tls: bool) -> None:
    """Refuse a connection past the pending limit: A-ASSOCIATE-RJ transient, local limit exceeded.

    Sent before the peer's request is read (it answers whatever comes); without it on a TLS port (the
    rejection would not be TLS). Never blocks: the socket is fresh, its send buffer empty.
    """
    if not tls:
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(encode_associate_rj(REJECT_TOO_MANY))


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise SetupTimeout("ACSE timeout: no complete A-ASSOCIATE-RQ in time")
    return left


def tls_handshake(context: ssl.SSLContext, raw: socket.socket, deadline: float) -> ssl.SSLSocket:
    """The server side of a TLS handshake on ``raw``, finished by ``deadline`` (one bound, not per read).

    Raises
    ------
    SetupTimeout
        If the handshake is not finished by ``deadline``.
    ssl.SSLError, OSError
        If the handshake fails or the connection drops.
    """
    # wrap_socket detaches ``raw``: from here on only ``tls`` owns the connection, so a failed
    # handshake must close it here (closing ``raw`` does nothing, and the peer, a plain-TCP sender
    # say, would wait for its own timeout on a connection nobody serves).
    tls = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
    try:
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                ready = select.select([tls], [], [], _remaining(deadline))[0]
            except ssl.SSLWantWriteError:
                ready = select.select([], [tls], [], _remaining(deadline))[1]
            if not ready:
                _remaining(deadline)
        tls.setblocking(True)
    except BaseException:
        tls.close()
        raise
    return tls


def _read_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        sock.settimeout(_remaining(deadline))
        try:
            count = sock.recv_into(view[received:])
        except TimeoutError as exc:
            raise SetupTimeout("ACSE timeout: no complete A-ASSOCIATE-RQ in time") from exc
        if count == 0:
            break
        received += count
    return bytes(view[:received])


def read_associate_request(sock: socket.socket, deadline: float, max_length: int) -> tuple[int, bytes] | None:
    """The peer's first PDU, an A-ASSOCIATE-RQ of at most ``max_length`` bytes, read by ``deadline``.

    Returns None when the peer closes (or aborts) before a request. Any other PDU type is refused on its
    header, before its body is read.

    Raises
    ------
    SetupTimeout
        If the whole request has not arrived by ``deadline``.
    PduTooLarge
        If the request declares more than ``max_length`` bytes (its body is not read).
    MalformedPdu
        If the first PDU is of an unknown type, is not a request, or is cut short by the peer.
    """
    header = _read_exactly(sock, PDU_HEADER, deadline)
    if not header:
        return None
    if len(header) < PDU_HEADER:
        raise MalformedPdu("connection closed inside a PDU header")
    pdu_type, length = struct.unpack(">BxI", header)
    if pdu_type == A_ABORT:
        return None
    if pdu_type != A_ASSOCIATE_RQ:
        raise unexpected_pdu(pdu_type, "before an association")
    if length > max_length:
        raise PduTooLarge(pdu_type, length, max_length)
    body = _read_exactly(sock, length, deadline)
    if len(body) < length:
        raise MalformedPdu(f"connection closed after {len(body)} of the {length} bytes of an A-ASSOCIATE-RQ")
    return pdu_type, body
