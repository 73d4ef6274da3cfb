"""Named DIMSE status codes, one table per service (PS3.4 Annex B, C; PS3.7 Annex C).

As pynetdicom keeps them in ``pynetdicom/status.py``: code that answers or reads a status names it
here instead of writing the number, so a newcomer can look up what ``0xA700`` means in one place.
"""

from __future__ import annotations

from enum import IntEnum


class GeneralStatus(IntEnum):
    """Statuses every DIMSE service may return (PS3.7 C.1 - C.5)."""

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORIZED = 0x0124
    CANCEL = 0xFE00


class StoreStatus(IntEnum):
    """C-STORE responses (PS3.4 B.2.3)."""

    SUCCESS = 0x0000
    # Refused, out of resources: the sender keeps the instance and sends it again later.
    OUT_OF_RESOURCES = 0xA700
    # "Data set does not match SOP class" is the nearest refusal PS3.4 offers for an instance we did
    # not ask for during a C-MOVE.
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    # Error, cannot understand: the dataset could not be parsed far enough to file it.
    CANNOT_UNDERSTAND = 0xC210
    PROCESSING_FAILURE = 0x0110


class FindStatus(IntEnum):
    """C-FIND responses (PS3.4 C.4.1.1.4)."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    PENDING_WARNING = 0xFF01  # pending, some optional keys were not supported
    OUT_OF_RESOURCES = 0xA700
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    UNABLE_TO_PROCESS = 0xC000
    CANCEL = 0xFE00


class MoveStatus(IntEnum):
    """C-MOVE and C-GET responses (PS3.4 C.4.2.1.5, C.4.3.1.4)."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    OUT_OF_RESOURCES_MATCHES = 0xA701  # unable to calculate the number of matches
    OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702  # unable to perform sub-operations
    MOVE_DESTINATION_UNKNOWN = 0xA801
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    UNABLE_TO_PROCESS = 0xC000
    CANCEL = 0xFE00
    WARNING_SUBOPERATIONS_FAILED = 0xB000


PENDING_STATUSES = frozenset({FindStatus.PENDING, FindStatus.PENDING_WARNING})
"""A C-FIND, C-MOVE or C-GET answer with one of these is followed by more."""

REFUSED_STATUSES = frozenset(
    {GeneralStatus.SOP_CLASS_NOT_SUPPORTED, GeneralStatus.NOT_AUTHORIZED, FindStatus.OUT_OF_RESOURCES}
)
"""A query answered with one of these was refused (not authorised, not supported, out of resources)."""
