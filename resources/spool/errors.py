"""Errors of the spool (the identifiable landing zone)."""

from __future__ import annotations

from resources.errors import DicomLakeError


class SpoolError(DicomLakeError):
    """Base class for spool errors."""


class SpoolWriteError(SpoolError):
    """A received instance could not be written or indexed (disk full, permissions ...)."""


class UnreadableInstanceError(SpoolError):
    """A received dataset could not be parsed far enough to file it (names the SOP Instance UID)."""
