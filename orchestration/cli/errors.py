"""The command line's own error: a command failed for a reason the user can act on."""

from __future__ import annotations

from resources.errors import DicomLakeError


class CommandError(DicomLakeError):
    """A command failed for a reason the user can act on; printed without a traceback."""
