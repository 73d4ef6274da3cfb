"""Study Root C-FIND at STUDY, SERIES and IMAGE level, on one reused association.

The answers become the rows of :mod:`resources.pacs.find_results`, which is where the usual PACS
quirks (absent ModalitiesInStudy, StationName at one level only, no image-level answer for SR) are
handled. Here: the association (native requestor or pynetdicom), the statuses, and the one repeat
of a query whose association dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType

from pydicom.dataset import Dataset
from pynetdicom import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from resources.dicom_network.association import (
    NetworkOptions,
    PeerAddress,
    associate,
    make_ae,
    release_quietly,
)
from resources.dicom_network.requestor import AssociationLost, NativeAssociation
from resources.dicom_network.status import PENDING_STATUSES, REFUSED_STATUSES, FindStatus
from resources.pacs.errors import PacsQueryError, PacsRefusedError, PacsUnavailableError
from resources.pacs.find_results import (
    InstanceRow,
    SeriesRow,
    StudyIndex,
    StudyRow,
    instance_row,
    series_row,
    study_row,
)
from resources.pacs.reactor_pause import reactor_pause_handlers
from resources.pacs.retry import BoundedRetry

log = logging.getLogger(__name__)

_FIND = str(StudyRootQueryRetrieveInformationModelFind)
# An association the PACS dropped (idle timeout, restart) is re-opened and the query sent once more.
_REPEAT_ONCE = BoundedRetry(max_retries=1, backoff_s=0.0)


class PacsQuerier:
    """C-FIND client on one reused association (re-opened if the PACS drops it).

    Use as a context manager; every method raises :class:`PacsQueryError` on a failure status,
    :class:`PacsRefusedError` when the PACS refuses us, :class:`PacsUnavailableError` when it is gone.
    """

    def __init__(self, peer: PeerAddress, options: NetworkOptions) -> None:
        self.peer = peer
        self.options = options
        self._native_engine = options.scu_engine == "native"
        self._ae = make_ae(peer.calling_ae_title, options)
        self._ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        self._assoc: Association | None = None
        self._native: NativeAssociation | None = None
        self._answered = False  # whether this association has answered a request yet

    def __enter__(self) -> PacsQuerier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._assoc is not None:
            release_quietly(self._assoc)
            self._assoc = None
        if self._native is not None:
            self._native.release()
            self._native = None

    def find(self, query: Dataset) -> list[Dataset]:
        """Run one Study Root C-FIND and return the matches.

        An association that drops mid-query (idle timeout on the PACS side, a restart) is re-opened
        and the query repeated once before giving up.

        Raises
        ------
        PacsRefusedError
            When the PACS refuses the query (not authorised, SOP class not supported).
        PacsQueryError
            On any other failure status.
        PacsUnavailableError
            When the association drops or times out mid-query.
        """
        for attempt in _REPEAT_ONCE:
            try:
                return self._find_once(query, first_try=not attempt.is_retry)
            except PacsUnavailableError as exc:
                if attempt.last:
                    raise
                log.warning("%s; re-opening the association and repeating the query once", exc)
                self.close()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _responses(self, query: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        """(status, identifier) per response, on either engine; stops early if the association is lost."""
        if self._native_engine:
            if self._native is None or not self._native.is_established:
                self._native = NativeAssociation(self.peer, self.options, [_FIND]).open()
                self._answered = False
            try:
                yield from self._native.find(_FIND, query)
            except AssociationLost as exc:
                log.debug("C-FIND association lost: %s", exc)
                self._native = None
            return
        if self._assoc is None or not self._assoc.is_established:
            self._assoc = associate(self._ae, self.peer, self.options, evt_handlers=reactor_pause_handlers())
            self._answered = False
        for status, identifier in self._assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:  # empty Dataset: timeout, abort or invalid response
                self._assoc = None
                return
            yield int(status.Status), identifier

    def _find_once(self, query: Dataset, *, first_try: bool) -> list[Dataset]:
        level = query.get("QueryRetrieveLevel", "?")
        got_final = False
        matches: list[Dataset] = []
        undecodable = 0
        for code, identifier in self._responses(query):
            self._answered = True
            if code in PENDING_STATUSES:
                if identifier is None:
                    # The match could not be decoded: the answer would be silently incomplete.
                    undecodable += 1
                else:
                    matches.append(identifier)
                continue
            got_final = True
            if code == FindStatus.SUCCESS:
                break
            if code in REFUSED_STATUSES:
                raise PacsRefusedError(
                    f"PACS {self.peer.describe()} refused a {level}-level C-FIND (status 0x{code:04X}); "
                    "check that our AE title is allowed to query"
                )
            raise PacsQueryError(
                f"PACS {self.peer.describe()}: {level}-level C-FIND failed, status 0x{code:04X}"
            )
        if not got_final:
            self._assoc = None
            if not self._answered and first_try:
                # Orthanc and others accept the association, then abort the first request of an AE
                # title they do not know.
                raise PacsRefusedError(
                    f"PACS {self.peer.describe()} accepted the association but aborted our first "
                    f"{level}-level C-FIND: it probably does not allow calling AE title "
                    f"{self.peer.calling_ae_title!r}; ask the PACS administrator to register it"
                )
            raise PacsUnavailableError(
                f"PACS {self.peer.describe()}: {level}-level C-FIND got no final response "
                "(association aborted or timed out)"
            )
        if undecodable:
            raise PacsUnavailableError(
                f"PACS {self.peer.describe()}: {undecodable} {level}-level C-FIND matches "
                "could not be decoded"
            )
        return matches

    # -- the three levels -----------------------------------------------------------------------------
    def find_studies(
        self,
        *,
        study_date: str | None = None,
        accession_number: str | None = None,
        patient_id: str | None = None,
    ) -> list[StudyRow]:
        """STUDY level. ``study_date`` is DICOM ``YYYYMMDD`` (or a range ``A-B``)."""
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ""
        q.StudyDate = study_date or ""
        q.StudyTime = ""
        q.AccessionNumber = accession_number or ""
        if patient_id is not None:
            q.PatientID = patient_id  # matching key only; never stored
        q.ModalitiesInStudy = ""
        q.StudyDescription = ""
        q.NumberOfStudyRelatedSeries = ""
        q.NumberOfStudyRelatedInstances = ""
        return [row for ds in self.find(q) if (row := study_row(ds)) is not None]

    def find_series(self, study_uid: str) -> list[SeriesRow]:
        """SERIES level, for one study."""
        q = Dataset()
        q.QueryRetrieveLevel = "SERIES"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = ""
        q.Modality = ""
        q.SeriesNumber = ""
        q.SeriesDescription = ""
        q.StationName = ""
        q.NumberOfSeriesRelatedInstances = ""
        return [row for ds in self.find(q) if (row := series_row(ds, study_uid)) is not None]

    def find_instances(self, study_uid: str, series_uid: str, *, sop_class: bool = True) -> list[InstanceRow]:
        """IMAGE level, for one series; an empty list means "the PACS did not say", not "empty".

        ``sop_class=False`` leaves SOP Class UID out of the return keys: some archives keep it only in
        the stored file, not in their database (Orthanc 1.10 answers about four times slower with it),
        and a C-MOVE of an image series does not need it.
        """
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = series_uid
        q.SOPInstanceUID = ""
        if sop_class:
            q.SOPClassUID = ""
        q.InstanceNumber = ""
        return [row for ds in self.find(q) if (row := instance_row(ds, study_uid, series_uid)) is not None]

    def index_study(self, study: StudyRow) -> StudyIndex:
        return StudyIndex(study=study, series=self.find_series(study.study_uid))
