"""Errors of the warehouse engine. Messages name the warehouse (URL without password) and the reason,
never the SQL or the row values (de-identified, but still free text from the sources)."""

from __future__ import annotations

from resources.errors import DicomLakeError


class WarehouseError(DicomLakeError):
    """A write or read of the warehouse failed."""


class WarehouseWriteError(WarehouseError):
    """A partition's write was refused or cut off (server gone, restarted, constraint); it was rolled
    back, so the partition's previous rows are kept."""
