"""Errors of the PACS engine. Messages name hosts, AE titles, UIDs and counts, never patient data.

Why the three first names are the network room's classes rather than subclasses of them: the
requestor, the association helpers and the C-ECHO of :mod:`resources.dicom_network` are what meet an
unavailable or refusing PACS, and they may not import this engine. Were the PACS classes subclasses,
every call into the network room would need a ``try``/``raise ... from`` translation to keep
``except PacsUnavailableError`` (the retries) and ``except PacsError`` (the CLI, the retriever's error
list) catching what they catch. As aliases, what the network room raises *is* the PACS error: one class,
no translation, and the PACS engine's own failures below still derive from :data:`PacsError`.
"""

from __future__ import annotations

from resources.dicom_network.errors import PeerError, PeerRefusedError, PeerUnavailableError

PacsError = PeerError
"""Base class for PACS query/retrieve errors (the network room's :class:`PeerError`)."""

PacsUnavailableError = PeerUnavailableError
"""The PACS could not be reached or dropped the association (after the bounded retries)."""

PacsRefusedError = PeerRefusedError
"""The PACS rejected our association or our request (unknown AE title, no permission)."""


class PacsQueryError(PacsError):
    """A C-FIND failed with a status the PACS reported."""


class RetrievalIncompleteError(PacsError):
    """Some instances could not be retrieved after the retries; what was received is kept."""


class OutsideAllowedWindowError(PacsError):
    """Retrieval was asked for outside the configured allowed time windows."""


class CohortFileError(PacsError):
    """The cohort CSV is missing, unreadable or lacks the configured key column."""
