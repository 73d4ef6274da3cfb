"""Errors raised by the dose engine. Messages name the file or UID and the reason, never patient data."""

from __future__ import annotations

from resources.errors import DicomLakeError


class DoseError(DicomLakeError):
    """Base class of the dose engine's errors."""


class NotADoseReportError(DoseError):
    """The file is readable DICOM but not a CT radiation dose report (it is recognised, not half-parsed)."""

    def __init__(self, source: str, document_type: str, reason: str) -> None:
        super().__init__(f"{source}: not a CT dose report ({document_type}): {reason}")
        self.source = source
        self.document_type = document_type
        self.reason = reason


class UnreadableFileError(DoseError):
    """The file could not be read as DICOM at all."""


class FactorSetError(DoseError):
    """A k-factor or DRL data file is missing or malformed."""
