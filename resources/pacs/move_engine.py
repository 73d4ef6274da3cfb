"""The interface of the two move engines (C-MOVE, C-GET) and what their answers mean.

The partition retriever does not care which DIMSE service brings the instances: it opens a
:class:`MoveSession` per study on a :class:`MoveEngine` and sends the plan's items on it. The
engines are :class:`~resources.pacs.c_move.CMoveEngine` (the PACS sends the instances to our storage
SCP; native requestor or pynetdicom) and :class:`~resources.pacs.c_get.CGetEngine` (the instances
come back on the same association). Both answer each item with a :class:`MoveOutcome`, which
:func:`raise_for_refusal` and :func:`describe_outcome` read the same way for either engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydicom.dataset import Dataset

from resources.dicom_network.association import PeerAddress
from resources.dicom_network.status import PENDING_STATUSES, GeneralStatus, MoveStatus
from resources.pacs.errors import PacsRefusedError, PacsUnavailableError
from resources.pacs.retrieval_plan import MoveItem, StudyPlan

# A retrieve request our AE title may not make (PS3.7 C.4): no point in retrying it.
RETRIEVE_REFUSED_STATUSES = frozenset({GeneralStatus.SOP_CLASS_NOT_SUPPORTED, GeneralStatus.NOT_AUTHORIZED})


@dataclass
class MoveOutcome:
    """The final answer to one retrieve request, with the last sub-operation counts given."""

    status: int | None  # None: no final response (abort, timeout)
    completed: int = 0
    failed: int = 0
    warning: int = 0

    @property
    def succeeded(self) -> bool:
        """Final status Success with no failed sub-operation."""
        return self.status == MoveStatus.SUCCESS and self.failed == 0


class MoveSession(Protocol):
    """One association on which a study's items are sent, one at a time."""

    def send(self, item: MoveItem) -> MoveOutcome:
        """Send one request and wait for its final response (status None when none came)."""
        ...

    def close(self) -> None:
        """Release the association (quietly when it is already gone)."""
        ...


class MoveEngine(Protocol):
    """A DIMSE service that brings a study's instances into the spool (C-MOVE or C-GET)."""

    @property
    def service(self) -> str:
        """``"C-MOVE"`` or ``"C-GET"`` (for messages)."""
        ...

    def open(self, plan: StudyPlan) -> MoveSession:
        """Open an association for the study's items.

        Raises
        ------
        PacsRefusedError
            When the PACS rejects the association.
        PacsUnavailableError
            When the PACS cannot be reached.
        """
        ...


def outcome_from_responses(responses: Iterable[tuple[Dataset, Any]]) -> MoveOutcome:
    """Read pynetdicom's C-MOVE or C-GET responses: the final status and the last counts given."""
    outcome = MoveOutcome(status=None)
    for status, _identifier in responses:
        if not status:  # empty Dataset: timeout, abort or invalid response
            return MoveOutcome(status=None)
        code = int(status.Status)
        outcome.completed = int(status.get("NumberOfCompletedSuboperations", outcome.completed) or 0)
        outcome.failed = int(status.get("NumberOfFailedSuboperations", outcome.failed) or 0)
        outcome.warning = int(status.get("NumberOfWarningSuboperations", outcome.warning) or 0)
        if code not in PENDING_STATUSES:
            outcome.status = code
    return outcome


def raise_for_refusal(
    outcome: MoveOutcome, item: MoveItem, *, service: str, peer: PeerAddress, destination: str
) -> None:
    """Stop the study's moves when the answer says retrying on this association is pointless.

    Raises
    ------
    PacsUnavailableError
        When no final response came (association aborted or timed out).
    PacsRefusedError
        When the PACS does not know the move destination or refuses the request.
    """
    if outcome.status is None:
        raise PacsUnavailableError(
            f"PACS {peer.describe()}: {item.level}-level {service} of study {item.study_uid} "
            "got no final response (association aborted or timed out)"
        )
    if outcome.status == MoveStatus.MOVE_DESTINATION_UNKNOWN:
        raise PacsRefusedError(
            f"PACS {peer.describe()} does not know the move destination {destination!r} "
            "(status 0xA801); register it with our host and storage SCP port on the PACS"
        )
    if outcome.status in RETRIEVE_REFUSED_STATUSES:
        raise PacsRefusedError(
            f"PACS {peer.describe()} refused the retrieve request (status "
            f"0x{outcome.status:04X}); check that our AE title may retrieve"
        )


def describe_outcome(outcome: MoveOutcome | None) -> str:
    """Why an item is still missing, in words for ``retrieval_failure.reason``."""
    if outcome is None:
        return "not attempted (association lost earlier in the study)"
    if outcome.status is None:
        return "association aborted or timed out"
    if outcome.failed:
        return f"status 0x{outcome.status:04X}, {outcome.failed} failed sub-operations"
    return f"status 0x{outcome.status:04X}"
