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


class AbortAssociation(ProtocolViolation):
    """Raised by a receiver of the acceptor to abort the association it is receiving on (A-ABORT)."""


class AssociationLost(NetworkError):
    """The association ended (A-ABORT, closed connection, timeout) before the final response."""
