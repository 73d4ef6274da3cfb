"""Errors of the DICOM network room: a peer that does not answer, refuses us, or breaks the protocol.

Messages name hosts, ports, AE titles and UIDs, never patient data. The PACS engine does not wrap these:
its ``PacsError``, ``PacsUnavailableError`` and ``PacsRefusedError`` *are* :class:`PeerError`,
:class:`PeerUnavailableError` and :class:`PeerRefusedError` (see :mod:`resources.pacs.errors` for why).
"""

from __future__ import annotations

from resources.errors import DicomLakeError


class NetworkError(DicomLakeError):
    """Base class of the network room's errors."""


class PeerError(NetworkError):
    """The remote application entity could not serve what we asked (base of unavailable and refused)."""


class PeerUnavailableError(PeerError):
    """Nothing answered, the connection dropped, or no final response came (after bounded retries)."""


class PeerRefusedError(PeerError):
    """The peer rejected our association or our request (unknown AE title, no permission, no context)."""


class ProtocolViolation(NetworkError):
    """The peer sent something we cannot follow: the association is aborted."""


class MalformedPdu(ProtocolViolation):
    """A PDU that breaks PS3.8 framing (unknown type, lengths past its end, mandatory items missing).

    ``abort_reason`` is the A-ABORT reason a service provider answers it with (PS3.8 Table 9-26):
    1 unrecognised PDU, 2 unexpected PDU, 6 invalid PDU parameter value.
    """

    def __init__(self, message: str, *, abort_reason: int = 6) -> None:
        super().__init__(message)
        self.abort_reason = abort_reason


class PduTooLarge(MalformedPdu):
    """A PDU header declared more than the limit for where it arrived; its body was not read."""

    def __init__(self, pdu_type: int, declared: int, limit: int) -> None:
        super().__init__(
            f"PDU type 0x{pdu_type:02x} declares {declared} bytes, over the limit of {limit}", abort_reason=6
        )
        self.pdu_type = pdu_type
        self.declared = declared
        self.limit = limit


class SetupTimeout(ProtocolViolation):
    """The peer did not finish its TLS handshake and A-ASSOCIATE-RQ within the ACSE timeout."""


class AbortAssociation(ProtocolViolation):
    """Raised by a receiver of the acceptor to abort the association it is receiving on (A-ABORT)."""


class AssociationLost(NetworkError):
    """The association ended (A-ABORT, closed connection, timeout) before the final response."""
