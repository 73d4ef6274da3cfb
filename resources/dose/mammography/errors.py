"""Errors of the mammography dose engine: they name the file and field, never patient data."""

from __future__ import annotations

from resources.errors import ConfigurationError


class FactorTableError(ConfigurationError):
    """A Dance factor table or the DRL-by-thickness file is missing or malformed."""


class QaFileError(ConfigurationError):
    """The site's mammography QA file (tube output and HVL) is unreadable or invalid."""
