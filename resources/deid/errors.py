"""Errors of the de-identification engine. Messages name a file or a UID and the reason, never a value."""

from __future__ import annotations

from resources.errors import ConfigurationError, DicomLakeError


class DeidentificationError(DicomLakeError):
    """Something went wrong while de-identifying."""


class DeidSettingsError(DeidentificationError, ConfigurationError):
    """A de-identification setting or key cannot work (a switch on without its key, a short secret)."""


class ProfileTableError(DeidentificationError):
    """The PS3.15 action table or an option table is missing or malformed."""


class VaultError(DeidentificationError):
    """The pseudonym vault could not be read or written, or the key is wrong."""


class UnreadableInstanceError(DeidentificationError):
    """An input file is not a readable DICOM instance (truncated, no meta header, bad encoding)."""
