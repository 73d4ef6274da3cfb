"""Errors of the analytics engine."""

from __future__ import annotations

from resources.errors import DicomLakeError


class AnalyticsError(DicomLakeError):
    """An analysis could not be computed (unknown analysis, warehouse refused the query)."""
