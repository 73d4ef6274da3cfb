"""The C-GET engine: a study's instances come back on the association that asked (PS3.4 C.4.3).

Each storage SOP class must be proposed with the SCP role (SCP/SCU Role Selection, PS3.7 D.3.3.4),
so the association proposes the classes the image-level C-FINDs reported plus the common ones, and
hands every C-STORE sub-operation to the spool writer. No separate storage SCP is needed.
"""

from __future__ import annotations

from pynetdicom import Association, build_context, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet  # type: ignore[attr-defined]

from resources.dicom_network.association import (
    NetworkOptions,
    PeerAddress,
    associate,
    make_ae,
    release_quietly,
)
from resources.pacs.move_engine import MoveOutcome, MoveSession, outcome_from_responses
from resources.pacs.reactor_pause import reactor_pause_handlers
from resources.pacs.retrieval_plan import MoveItem, StudyPlan
from resources.pacs.spool_writer import SpoolWriter
from resources.sop_classes import (
    COMPREHENSIVE_SR,
    ENHANCED_SR,
    RADIOPHARMACEUTICAL_RADIATION_DOSE_SR,
    XRAY_RADIATION_DOSE_SR,
)

# Presentation context IDs are odd numbers up to 255 (PS3.8 9.3.2.2), so at most 128 contexts: the
# storage classes are capped below that, leaving room for the Get model itself.
_MAX_STORAGE_CONTEXTS = 120
# Storage SOP classes proposed on a C-GET association besides those seen at image level.
COMMON_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # CR Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray for presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography for presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography for processing
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic
    "1.2.840.10008.5.1.4.1.1.20",  # NM Image
    "1.2.840.10008.5.1.4.1.1.128",  # PET Image
    "1.2.840.10008.5.1.4.1.1.6.1",  # US Image
    XRAY_RADIATION_DOSE_SR,
    RADIOPHARMACEUTICAL_RADIATION_DOSE_SR,
    ENHANCED_SR,
    COMPREHENSIVE_SR,
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
)


class _GetSession:
    def __init__(self, association: Association) -> None:
        self._association = association

    def send(self, item: MoveItem) -> MoveOutcome:
        return outcome_from_responses(
            self._association.send_c_get(item.identifier(), StudyRootQueryRetrieveInformationModelGet)
        )

    def close(self) -> None:
        release_quietly(self._association)


class CGetEngine:
    """Study Root C-GET, each received instance written by ``writer``."""

    service = "C-GET"

    def __init__(self, peer: PeerAddress, network: NetworkOptions, writer: SpoolWriter) -> None:
        self.peer = peer
        self.network = network
        self.writer = writer

    def open(self, plan: StudyPlan) -> MoveSession:
        """Open an association proposing Study Root Get and the study's storage classes (SCP role).

        Raises
        ------
        PacsRefusedError
            When the PACS rejects the association.
        PacsUnavailableError
            When the PACS cannot be reached.
        """
        ae = make_ae(self.peer.calling_ae_title, self.network)
        classes = list(dict.fromkeys([*sorted(plan.sop_classes), *COMMON_STORAGE_CLASSES]))
        classes = classes[:_MAX_STORAGE_CONTEXTS]
        contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
        contexts += [build_context(uid) for uid in classes]
        roles = [build_role(uid, scp_role=True) for uid in classes]
        return _GetSession(
            associate(
                ae,
                self.peer,
                self.network,
                contexts=contexts,
                ext_neg=roles,
                evt_handlers=[(evt.EVT_C_STORE, self.writer.handle_store), *reactor_pause_handlers()],
            )
        )
