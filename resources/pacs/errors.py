"""Errors of the PACS engine. Messages name hosts, AE titles, UIDs and counts, never patient data."""

from __future__ import annotations

from resources.errors import DicomLakeError


class PacsError(DicomLakeError):
    """Base class for PACS query/retrieve errors."""


class PacsUnavailableError(PacsError):
    """The PACS could not be reached or dropped the association (after the bounded retries)."""


class PacsRefusedError(PacsError):
    """The PACS rejected our association or our request (unknown AE title, no permission)."""


class PacsQueryError(PacsError):
    """A C-FIND failed with a status the PACS reported."""


class RetrievalIncompleteError(PacsError):
    """Some instances could not be retrieved after the retries; what was received is kept."""


class OutsideAllowedWindowError(PacsError):
    """Retrieval was asked for outside the configured allowed time windows."""


class CohortFileError(PacsError):
    """The cohort CSV is missing, unreadable or lacks the configured key column."""
