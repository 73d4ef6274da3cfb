"""Errors of the C-STORE listener."""


class ListenerError(Exception):
    """Base class for listener errors."""


class ListenerConfigError(ListenerError):
    """The listener settings cannot work (nobody allowed to send, unreadable TLS files ...)."""


class UnreadableInstance(ListenerError):
    """A received dataset could not be parsed far enough to file it (names the SOP Instance UID)."""
