"""Errors of the C-STORE listener."""

from __future__ import annotations

from resources.errors import DicomLakeError


class ListenerError(DicomLakeError):
    """Base class for listener errors."""


class ListenerConfigError(ListenerError):
    """The listener settings cannot work (nobody allowed to send, unreadable TLS files ...)."""
