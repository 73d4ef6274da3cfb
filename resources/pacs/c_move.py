"""The C-MOVE engine: the PACS sends a study's instances to our storage SCP (PS3.4 C.4.2).

Our storage SCP (:mod:`resources.pacs.storage_scp` or the receiving processes) is started by the
partition retriever before any move; here only the requests travel, on the lean native requestor
(``NetworkOptions.scu_engine == "native"``, the default) or on pynetdicom. Both read the responses
into the same :class:`~resources.pacs.move_engine.MoveOutcome`.
"""

from __future__ import annotations

import logging

from pynetdicom import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove  # type: ignore[attr-defined]

from resources.dicom_network.association import (
    NetworkOptions,
    PeerAddress,
    associate,
    make_ae,
    release_quietly,
)
from resources.dicom_network.requestor import AssociationLost, NativeAssociation
from resources.dicom_network.status import PENDING_STATUSES
from resources.pacs.move_engine import MoveOutcome, MoveSession, outcome_from_responses
from resources.pacs.reactor_pause import reactor_pause_handlers
from resources.pacs.retrieval_plan import MoveItem, StudyPlan

log = logging.getLogger(__name__)

_MOVE = str(StudyRootQueryRetrieveInformationModelMove)


class _NativeMoveSession:
    def __init__(self, association: NativeAssociation, destination: str) -> None:
        self._association = association
        self._destination = destination

    def send(self, item: MoveItem) -> MoveOutcome:
        outcome = MoveOutcome(status=None)
        try:
            for rsp in self._association.move(_MOVE, item.identifier(), self._destination):
                # Counts are optional in pending responses (PS3.7 C.4.2.1.6): keep the last ones given.
                outcome.completed = rsp.completed if rsp.completed is not None else outcome.completed
                outcome.failed = rsp.failed if rsp.failed is not None else outcome.failed
                outcome.warning = rsp.warning if rsp.warning is not None else outcome.warning
                if rsp.status not in PENDING_STATUSES:
                    outcome.status = rsp.status
        except AssociationLost as exc:
            log.warning("%s-level C-MOVE of study %s: %s", item.level, item.study_uid, exc)
            return MoveOutcome(status=None)
        return outcome

    def close(self) -> None:
        self._association.release()


class _PynetdicomMoveSession:
    def __init__(self, association: Association, destination: str) -> None:
        self._association = association
        self._destination = destination

    def send(self, item: MoveItem) -> MoveOutcome:
        return outcome_from_responses(
            self._association.send_c_move(
                item.identifier(), self._destination, StudyRootQueryRetrieveInformationModelMove
            )
        )

    def close(self) -> None:
        release_quietly(self._association)


class CMoveEngine:
    """Study Root C-MOVE to ``destination`` (our storage SCP's AE title, known to the PACS)."""

    service = "C-MOVE"

    def __init__(self, peer: PeerAddress, network: NetworkOptions, destination: str) -> None:
        self.peer = peer
        self.network = network
        self.destination = destination

    def open(self, plan: StudyPlan) -> MoveSession:
        """Open an association proposing Study Root Move only.

        Raises
        ------
        PacsRefusedError
            When the PACS rejects the association.
        PacsUnavailableError
            When the PACS cannot be reached.
        """
        if self.network.scu_engine == "native":
            return _NativeMoveSession(
                NativeAssociation(self.peer, self.network, [_MOVE]).open(), self.destination
            )
        ae = make_ae(self.peer.calling_ae_title, self.network)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        return _PynetdicomMoveSession(
            associate(ae, self.peer, self.network, evt_handlers=reactor_pause_handlers()), self.destination
        )
