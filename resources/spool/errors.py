"""Errors of the spool (the identifiable landing zone)."""


class SpoolError(Exception):
    """Base class for spool errors."""


class SpoolWriteError(SpoolError):
    """A received instance could not be written or indexed (disk full, permissions ...)."""
