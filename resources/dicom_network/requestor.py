"""A lean DICOM requestor for C-FIND and C-MOVE: the retrieval's fast path to the PACS.

pynetdicom runs two polling threads per association (the DUL reactor and the association reactor,
each waking about every millisecond) and decodes every response into a Dataset. A C-MOVE answers
with one pending response per sub-operation and an image-level C-FIND with one per instance, so on a
2-core machine those threads take the interpreter away from the storage SCP receiving the very
instances being moved. This requestor does the same work in the calling thread with blocking socket
reads: A-ASSOCIATE-RQ and its answer (PS3.8 9.3.2-9.3.4), the request command and identifier in
P-DATA-TF PDUs (PS3.8 9.3.5), the responses read until the final one (PS3.7 9.1.2 C-FIND, 9.1.4
C-MOVE), A-RELEASE (PS3.8 9.3.6-9.3.7) and A-ABORT (9.3.8). Response command sets are parsed
directly; C-FIND identifiers are decoded with pydicom.

Only what our retrieval needs is implemented: no extended negotiation, one operation at a time on an
association (no asynchronous operations window), no C-GET (which stays on pynetdicom, see
:mod:`resources.pacs.retrieve`). Errors map to the exceptions of :mod:`resources.pacs.errors` with
the same wording as the pynetdicom path, so callers do not care which engine ran.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, Literal, cast

from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.dicom_network.upper_layer import (
    A_ABORT,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    APPLICATION_CONTEXT,
    EXPLICIT_VR_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    IMPLICIT_VR_LE,
    NO_DATASET,
    OUR_MAX_PDU,
    P_DATA_TF,
    ProtocolViolation,
    ae_bytes,
    command_us,
    encode_command,
    item,
    parse_command,
    pdu,
    pdv_pdus,
    read_pdu,
    sub_items,
    text,
    uid_bytes,
    us,
)
from resources.pacs.errors import PacsRefusedError, PacsUnavailableError

log = logging.getLogger(__name__)

ScuEngine = Literal["native", "pynetdicom"]
SCU_ENGINES: tuple[ScuEngine, ...] = ("native", "pynetdicom")

C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_MOVE_RQ, C_MOVE_RSP = 0x0021, 0x8021
PRIORITY_MEDIUM = 0x0000
PENDING = (0xFF00, 0xFF01)

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


class AssociationLost(Exception):
    """The association ended (A-ABORT, closed connection, timeout) before the final response."""


@dataclass(frozen=True)
class MoveStatus:
    """One C-MOVE response: its status and sub-operation counts (absent counts are None)."""

    status: int
    remaining: int | None
    completed: int | None
    failed: int | None
    warning: int | None


def _optional_us(fields: dict[int, bytes], element: int) -> int | None:
    return command_us(fields, element) if element in fields else None


class NativeAssociation:
    """One association we request, carrying C-FIND and C-MOVE requests one after the other.

    ``abstract_syntaxes`` are the SOP classes proposed, each in its own presentation context with
    explicit and implicit VR little endian. Use :meth:`open`, then :meth:`find` / :meth:`move`, then
    :meth:`release` (or :meth:`abort`); :attr:`is_established` tells whether it can still be used.
    """

    def __init__(self, peer: PeerAddress, options: NetworkOptions, abstract_syntaxes: Sequence[str]) -> None:
        self.peer = peer
        self.options = options
        self.abstract_syntaxes = tuple(abstract_syntaxes)
        self._sock: socket.socket | None = None
        self._stream: BinaryIO | None = None
        self._contexts: dict[str, tuple[int, str]] = {}  # abstract syntax -> (context id, transfer syntax)
        self._peer_max_pdu = 0
        self._message_id = 0

    @property
    def is_established(self) -> bool:
        return self._sock is not None

    # -- association ----------------------------------------------------------------------------
    def open(self) -> NativeAssociation:
        """Connect and negotiate.

        Raises
        ------
        PacsRefusedError
            When the PACS rejects the association or accepts none of the proposed contexts.
        PacsUnavailableError
            When nothing answers, or the connection drops during negotiation.
        """
        try:
            sock = socket.create_connection(
                (self.peer.host, self.peer.port), timeout=self.options.connection_timeout_s
            )
        except OSError as exc:
            raise PacsUnavailableError(
                f"PACS {self.peer.describe()} did not answer an association request ({exc.strerror or exc})"
            ) from None
        if self.options.tcp_nodelay:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._stream = cast(BinaryIO, sock.makefile("rb", buffering=1 << 16))
        try:
            sock.settimeout(self.options.acse_timeout_s)
            sock.sendall(self._associate_rq())
            answer = read_pdu(self._stream)
        except (OSError, ProtocolViolation) as exc:
            self._close_socket()
            raise PacsUnavailableError(
                f"PACS {self.peer.describe()} did not answer an association request ({type(exc).__name__})"
            ) from None
        if answer is None:
            self._close_socket()
            raise PacsUnavailableError(f"PACS {self.peer.describe()} closed the connection on association")
        pdu_type, body = answer
        if pdu_type == A_ASSOCIATE_RJ and len(body) >= 4:
            self._close_socket()
            result, source, reason = body[1], body[2], body[3]
            raise PacsRefusedError(
                f"PACS {self.peer.describe()} rejected the association "
                f"({_RJ_RESULT.get(result, f'result {result}')}: "
                f"{_RJ_REASON.get((source, reason), f'reason {reason}')} "
                f"(source: {_RJ_SOURCE.get(source, str(source))})); "
                "ask the PACS administrator to register our AE title, host and port"
            )
        if pdu_type != A_ASSOCIATE_AC:
            self._close_socket()
            raise PacsUnavailableError(
                f"PACS {self.peer.describe()} answered the association request with PDU type 0x{pdu_type:02x}"
            )
        self._read_associate_ac(body)
        if not self._contexts:
            self.abort()
            raise PacsRefusedError(
                f"PACS {self.peer.describe()} accepted none of the {len(self.abstract_syntaxes)} proposed "
                "presentation contexts"
            )
        sock.settimeout(self.options.dimse_timeout_s)
        return self

    def _associate_rq(self) -> bytes:
        items = item(0x10, APPLICATION_CONTEXT.encode())
        for number, abstract in enumerate(self.abstract_syntaxes):
            context_id = 2 * number + 1  # odd, 1..255 (PS3.8 9.3.2.2)
            proposal = item(0x30, abstract.encode())
            proposal += item(0x40, EXPLICIT_VR_LE.encode()) + item(0x40, IMPLICIT_VR_LE.encode())
            items += item(0x20, bytes([context_id, 0, 0, 0]) + proposal)
        user_info = (
            item(0x51, struct.pack(">I", self.options.max_pdu or OUR_MAX_PDU))
            + item(0x52, IMPLEMENTATION_CLASS_UID.encode())
            + item(0x55, IMPLEMENTATION_VERSION.encode())
        )
        items += item(0x50, user_info)
        header = (
            struct.pack(">HH", 1, 0)
            + ae_bytes(self.peer.called_ae_title)
            + ae_bytes(self.peer.calling_ae_title)
            + b"\0" * 32
        )
        return pdu(A_ASSOCIATE_RQ, header + items)

    def _read_associate_ac(self, body: bytes) -> None:
        proposed = {2 * n + 1: abstract for n, abstract in enumerate(self.abstract_syntaxes)}
        for item_type, value in sub_items(body, 68):
            if item_type == 0x21 and len(value) >= 4:
                context_id, result = value[0], value[2]
                transfer = next((text(v) for t, v in sub_items(value, 4) if t == 0x40), "")
                if result == 0 and context_id in proposed and transfer in (EXPLICIT_VR_LE, IMPLICIT_VR_LE):
                    self._contexts[proposed[context_id]] = (context_id, transfer)
            elif item_type == 0x50:
                for sub_type, sub_value in sub_items(value):
                    if sub_type == 0x51 and len(sub_value) == 4:
                        self._peer_max_pdu = struct.unpack(">I", sub_value)[0]

    def accepts(self, abstract_syntax: str) -> bool:
        return abstract_syntax in self._contexts

    def release(self) -> None:
        """A-RELEASE (waits for the answer up to the ACSE timeout); quiet if the association is gone."""
        if self._sock is None or self._stream is None:
            return
        try:
            self._sock.settimeout(self.options.acse_timeout_s)
            self._sock.sendall(pdu(A_RELEASE_RQ, b"\0\0\0\0"))
            while True:
                answer = read_pdu(self._stream)
                if answer is None or answer[0] in (A_RELEASE_RP, A_ABORT):
                    break
                # Late P-DATA (e.g. a response after a cancel) is dropped while releasing.
        except (OSError, ProtocolViolation):
            pass
        self._close_socket()

    def abort(self) -> None:
        """A-ABORT (source: service user) and close; quiet if the association is gone."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.sendall(pdu(A_ABORT, b"\0\0\0\0"))
        self._close_socket()

    def _close_socket(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._stream = None

    # -- DIMSE ----------------------------------------------------------------------------------
    def _context(self, abstract_syntax: str) -> tuple[int, str]:
        try:
            return self._contexts[abstract_syntax]
        except KeyError:
            raise PacsRefusedError(
                f"PACS {self.peer.describe()} did not accept the presentation context {abstract_syntax}"
            ) from None

    def _send(self, context_id: int, command: bytes, dataset: bytes | None) -> None:
        if self._sock is None:
            raise AssociationLost("the association is not open")
        pdus = pdv_pdus(context_id, command, command=True, max_pdu=self._peer_max_pdu)
        if dataset is not None:
            pdus += pdv_pdus(context_id, dataset, command=False, max_pdu=self._peer_max_pdu)
        try:
            self._sock.sendall(b"".join(pdus))
        except OSError as exc:
            self._close_socket()
            raise AssociationLost(f"sending failed ({type(exc).__name__})") from None

    def _receive(self) -> tuple[dict[int, bytes], bytes | None]:
        """The next DIMSE message: its parsed command set and its dataset bytes (None if it has none)."""
        if self._stream is None:
            raise AssociationLost("the association is not open")
        command = bytearray()
        fields: dict[int, bytes] | None = None
        dataset: list[bytes] = []
        try:
            while True:
                received = read_pdu(self._stream)
                if received is None:
                    raise AssociationLost("the PACS closed the connection")
                pdu_type, body = received
                if pdu_type == A_ABORT:
                    raise AssociationLost("the PACS aborted the association")
                if pdu_type == A_RELEASE_RQ:
                    raise AssociationLost("the PACS released the association mid-operation")
                if pdu_type != P_DATA_TF:
                    raise ProtocolViolation(f"unexpected PDU type 0x{pdu_type:02x}")
                offset = 0
                while offset + 6 <= len(body):
                    length = struct.unpack_from(">I", body, offset)[0]
                    control = body[offset + 5]
                    fragment = body[offset + 6 : offset + 4 + length]
                    offset += 4 + length
                    if control & 0x01:
                        command += fragment
                        if control & 0x02:
                            fields = parse_command(bytes(command))
                            if command_us(fields, 0x0800, NO_DATASET) == NO_DATASET:
                                return fields, None
                    else:
                        dataset.append(fragment)
                        if control & 0x02:
                            if fields is None:
                                raise ProtocolViolation("a dataset arrived before its command")
                            return fields, b"".join(dataset)
        except TimeoutError:
            self.abort()
            raise AssociationLost(
                f"no response within the DIMSE timeout ({self.options.dimse_timeout_s:g} s)"
            ) from None
        except (OSError, ProtocolViolation) as exc:
            self.abort()
            raise AssociationLost(f"{type(exc).__name__}: {exc}") from None
        except AssociationLost:
            self._close_socket()
            raise

    def _next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def _request(
        self, command_field: int, sop_class: str, identifier: Dataset, extra: list[tuple[int, bytes]]
    ) -> tuple[int, bool]:
        """Send a request command with its identifier; returns its message ID and whether the context
        is implicit VR (how the response identifiers are encoded)."""
        context_id, transfer = self._context(sop_class)
        encoded = encode(identifier, transfer == IMPLICIT_VR_LE, True)
        if encoded is None:
            raise ValueError(f"the identifier of request 0x{command_field:04x} cannot be encoded")
        message_id = self._next_message_id()
        elements = [
            (0x0002, uid_bytes(sop_class)),
            (0x0100, us(command_field)),
            (0x0110, us(message_id)),
            *extra,
            (0x0700, us(PRIORITY_MEDIUM)),
            (0x0800, us(0x0000)),  # a dataset follows
        ]
        self._send(context_id, encode_command(elements), encoded)
        return message_id, transfer == IMPLICIT_VR_LE

    def _responses(
        self, message_id: int, response_field: int
    ) -> Iterator[tuple[int, dict[int, bytes], bytes | None]]:
        """(status, command set, dataset) of each response to ``message_id``, the final one last."""
        while True:
            fields, data = self._receive()
            if command_us(fields, 0x0100) != response_field or command_us(fields, 0x0120) != message_id:
                raise self._unexpected(fields)
            status = command_us(fields, 0x0900, 0xC000)
            yield status, fields, data
            if status not in PENDING:
                return

    def find(self, sop_class: str, identifier: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        """Send a C-FIND; yields (status, identifier) per response, the final one last.

        Raises
        ------
        AssociationLost
            When the association ends before the final response.
        PacsRefusedError
            When the SOP class was not accepted at negotiation.
        """
        message_id, implicit = self._request(C_FIND_RQ, sop_class, identifier, [])
        for status, _fields, data in self._responses(message_id, C_FIND_RSP):
            yield status, decode(BytesIO(data), implicit, True) if data is not None else None

    def move(self, sop_class: str, identifier: Dataset, destination: str) -> Iterator[MoveStatus]:
        """Send a C-MOVE to ``destination``; yields each response, the final one last.

        Raises
        ------
        AssociationLost
            When the association ends before the final response.
        PacsRefusedError
            When the SOP class was not accepted at negotiation.
        """
        destination_raw = destination.strip().encode("ascii", "replace")
        move_destination = destination_raw + (b" " if len(destination_raw) % 2 else b"")
        message_id, _ = self._request(C_MOVE_RQ, sop_class, identifier, [(0x0600, move_destination)])
        # The dataset of a final response, if any, lists the failed SOP Instance UIDs: not needed here,
        # the retriever checks the spool index.
        for status, fields, _failed_uids in self._responses(message_id, C_MOVE_RSP):
            yield MoveStatus(
                status=status,
                remaining=_optional_us(fields, 0x1020),
                completed=_optional_us(fields, 0x1021),
                failed=_optional_us(fields, 0x1022),
                warning=_optional_us(fields, 0x1023),
            )

    def _unexpected(self, fields: dict[int, bytes]) -> AssociationLost:
        self.abort()
        return AssociationLost(
            f"unexpected DIMSE message 0x{command_us(fields, 0x0100):04x} "
            f"(responding to message {command_us(fields, 0x0120)})"
        )
