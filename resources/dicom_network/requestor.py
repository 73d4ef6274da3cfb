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
:mod:`resources.pacs.c_get`). Errors are those of :mod:`resources.dicom_network.errors` (which the
PACS engine's errors are) with the same wording as the pynetdicom path, so callers do not care which
engine ran; the A-ASSOCIATE PDUs are encoded and read by :mod:`resources.dicom_network.negotiation`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, cast

from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.dicom_network.association_settings import set_tcp_nodelay
from resources.dicom_network.errors import (
    AssociationLost,
    PeerRefusedError,
    PeerUnavailableError,
    ProtocolViolation,
)
from resources.dicom_network.negotiation import describe_rejection, encode_associate_rq, read_associate_ac
from resources.dicom_network.status import PENDING_STATUSES, FindStatus
from resources.dicom_network.upper_layer import (
    A_ABORT,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    DATASET_FOLLOWS,
    IMPLICIT_VR_LE,
    OUR_MAX_PDU,
    CommandField,
    command_us,
    encode_command,
    pdu,
    pdv_pdus,
    read_message,
    read_pdu,
    uid_bytes,
    us,
)

log = logging.getLogger(__name__)

PRIORITY_MEDIUM = 0x0000
# A response without a status is treated as "unable to process" (PS3.4 C.4.1.1.4).
_NO_STATUS = FindStatus.UNABLE_TO_PROCESS


@dataclass(frozen=True)
class MoveResponse:
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
        PeerRefusedError
            When the PACS rejects the association or accepts none of the proposed contexts.
        PeerUnavailableError
            When nothing answers, or the connection drops during negotiation.
        """
        try:
            sock = socket.create_connection(
                (self.peer.host, self.peer.port), timeout=self.options.connection_timeout_s
            )
        except OSError as exc:
            raise PeerUnavailableError(
                f"PACS {self.peer.describe()} did not answer an association request ({exc.strerror or exc})"
            ) from exc
        if self.options.tcp_nodelay:
            set_tcp_nodelay(sock)
        self._sock = sock
        self._stream = cast(BinaryIO, sock.makefile("rb", buffering=1 << 16))
        try:
            sock.settimeout(self.options.acse_timeout_s)
            sock.sendall(
                encode_associate_rq(
                    self.peer.called_ae_title,
                    self.peer.calling_ae_title,
                    self.abstract_syntaxes,
                    self.options.max_pdu or OUR_MAX_PDU,
                )
            )
            answer = read_pdu(self._stream)
        except (OSError, ProtocolViolation) as exc:
            self._close_socket()
            raise PeerUnavailableError(
                f"PACS {self.peer.describe()} did not answer an association request ({type(exc).__name__})"
            ) from exc
        if answer is None:
            self._close_socket()
            raise PeerUnavailableError(f"PACS {self.peer.describe()} closed the connection on association")
        pdu_type, body = answer
        if pdu_type == A_ASSOCIATE_RJ and len(body) >= 4:
            self._close_socket()
            raise PeerRefusedError(
                f"PACS {self.peer.describe()} rejected the association ({describe_rejection(body)}); "
                "ask the PACS administrator to register our AE title, host and port"
            )
        if pdu_type != A_ASSOCIATE_AC:
            self._close_socket()
            raise PeerUnavailableError(
                f"PACS {self.peer.describe()} answered the association request with PDU type 0x{pdu_type:02x}"
            )
        self._contexts, self._peer_max_pdu = read_associate_ac(body, self.abstract_syntaxes)
        if not self._contexts:
            self.abort()
            raise PeerRefusedError(
                f"PACS {self.peer.describe()} accepted none of the {len(self.abstract_syntaxes)} proposed "
                "presentation contexts"
            )
        sock.settimeout(self.options.dimse_timeout_s)
        return self

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
        except KeyError as exc:
            raise PeerRefusedError(
                f"PACS {self.peer.describe()} did not accept the presentation context {abstract_syntax}"
            ) from exc

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
            raise AssociationLost(f"sending failed ({type(exc).__name__})") from exc

    def _receive(self) -> tuple[dict[int, bytes], bytes | None]:
        """The next DIMSE message: its parsed command set and its dataset bytes (None if it has none)."""
        if self._stream is None:
            raise AssociationLost("the association is not open")
        try:
            return read_message(self._stream, who="the PACS")
        except TimeoutError as exc:
            self.abort()
            raise AssociationLost(
                f"no response within the DIMSE timeout ({self.options.dimse_timeout_s:g} s)"
            ) from exc
        except (OSError, ProtocolViolation) as exc:
            self.abort()
            raise AssociationLost(f"{type(exc).__name__}: {exc}") from exc
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
            (0x0800, us(DATASET_FOLLOWS)),
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
            status = command_us(fields, 0x0900, _NO_STATUS)
            yield status, fields, data
            if status not in PENDING_STATUSES:
                return

    def find(self, sop_class: str, identifier: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        """Send a C-FIND; yields (status, identifier) per response, the final one last.

        Raises
        ------
        AssociationLost
            When the association ends before the final response.
        PeerRefusedError
            When the SOP class was not accepted at negotiation.
        """
        message_id, implicit = self._request(CommandField.C_FIND_RQ, sop_class, identifier, [])
        for status, _fields, data in self._responses(message_id, CommandField.C_FIND_RSP):
            yield status, decode(BytesIO(data), implicit, True) if data is not None else None

    def move(self, sop_class: str, identifier: Dataset, destination: str) -> Iterator[MoveResponse]:
        """Send a C-MOVE to ``destination``; yields each response, the final one last.

        Raises
        ------
        AssociationLost
            When the association ends before the final response.
        PeerRefusedError
            When the SOP class was not accepted at negotiation.
        """
        destination_raw = destination.strip().encode("ascii", "replace")
        move_destination = destination_raw + (b" " if len(destination_raw) % 2 else b"")
        message_id, _ = self._request(
            CommandField.C_MOVE_RQ, sop_class, identifier, [(0x0600, move_destination)]
        )
        # The dataset of a final response, if any, lists the failed SOP Instance UIDs: not needed here,
        # the retriever checks the spool index.
        for status, fields, _failed_uids in self._responses(message_id, CommandField.C_MOVE_RSP):
            yield MoveResponse(
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
