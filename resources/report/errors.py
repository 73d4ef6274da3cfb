"""Errors of the report engine. Messages name the warehouse (URL without password) or the period and
the reason; never a row value."""

from __future__ import annotations

from resources.errors import DicomLakeError


class ReportError(DicomLakeError):
    """A report could not be built or written."""


class WarehouseMissingError(ReportError):
    """The warehouse named by the site file does not exist or has no curated tables yet."""


class EmptyPeriodError(ReportError):
    """No curated study has a source study date (partition) in the requested period."""


class ReportContentError(ReportError):
    """A table meant for the report carries a column that could hold source free text."""
