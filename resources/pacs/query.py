"""Study Root C-FIND at STUDY, SERIES and IMAGE level, tolerant of the usual PACS quirks.

Quirks handled here (PS3.4 C.3 makes most return keys optional, and real archives use that freedom):

- ModalitiesInStudy may be absent (dcmqrscp never returns it): the modalities of a study are then the
  union of its series' Modality values, which :func:`study_modalities` computes.
- StationName may differ between study and series level, or exist only at one: selection looks at
  every station name seen for the study (:class:`StudyIndex.station_names`).
- Image-level C-FIND may answer nothing for SR series: callers treat an empty answer as "unknown",
  never as "the series is empty".
- Numbers of related series/instances may be absent: they are optional and stored as None.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
from resources.pacs.errors import PacsQueryError, PacsRefusedError, PacsUnavailableError

log = logging.getLogger(__name__)

_PENDING = (0xFF00, 0xFF01)
# 0x0122 SOP class not supported, 0x0124 refused: not authorised (PS3.7 C.4); 0xA700 out of resources.
_REFUSED = (0x0122, 0x0124, 0xA700)
_FIND = str(StudyRootQueryRetrieveInformationModelFind)


@dataclass(frozen=True)
class StudyRow:
    """One study as the PACS described it at STUDY level."""

    study_uid: str
    study_date: str | None = None
    study_time: str | None = None
    accession_number: str | None = None
    modalities: tuple[str, ...] = ()
    study_description: str | None = None
    station_name: str | None = None
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesRow:
    """One series as the PACS described it at SERIES level."""

    series_uid: str
    study_uid: str
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    station_name: str | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class InstanceRow:
    """One instance as the PACS described it at IMAGE level."""

    sop_instance_uid: str
    sop_class_uid: str | None
    series_uid: str
    study_uid: str
    instance_number: int | None = None


@dataclass
class StudyIndex:
    """A study with its series: what the index stage records and selection decides on."""

    study: StudyRow
    series: list[SeriesRow] = field(default_factory=list)

    @property
    def modalities(self) -> tuple[str, ...]:
        return study_modalities(self.study, self.series)

    @property
    def station_names(self) -> tuple[str, ...]:
        names = {self.study.station_name} | {s.station_name for s in self.series}
        return tuple(sorted(n for n in names if n))


def study_modalities(study: StudyRow, series: Sequence[SeriesRow]) -> tuple[str, ...]:
    """ModalitiesInStudy when the PACS gave it, else the union of the series modalities."""
    found = set(study.modalities) | {s.modality for s in series if s.modality}
    return tuple(sorted(found))


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _multi(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    items = value.split("\\") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


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
        try:
            return self._find_once(query, first_try=True)
        except PacsUnavailableError as exc:
            log.warning("%s; re-opening the association and repeating the query once", exc)
            self.close()
            return self._find_once(query, first_try=False)

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
            self._assoc = associate(self._ae, self.peer, self.options)
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
            if code in _PENDING:
                if identifier is None:
                    # The match could not be decoded: the answer would be silently incomplete.
                    undecodable += 1
                else:
                    matches.append(identifier)
                continue
            got_final = True
            if code == 0x0000:
                break
            if code in _REFUSED:
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
        rows = []
        for ds in self.find(q):
            uid = _text(ds, "StudyInstanceUID")
            if not uid:
                continue
            rows.append(
                StudyRow(
                    study_uid=uid,
                    study_date=_text(ds, "StudyDate"),
                    study_time=_text(ds, "StudyTime"),
                    accession_number=_text(ds, "AccessionNumber"),
                    modalities=_multi(ds, "ModalitiesInStudy"),
                    study_description=_text(ds, "StudyDescription"),
                    station_name=_text(ds, "StationName"),
                    n_series=_int(ds, "NumberOfStudyRelatedSeries"),
                    n_instances=_int(ds, "NumberOfStudyRelatedInstances"),
                )
            )
        return rows

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
        rows = []
        for ds in self.find(q):
            uid = _text(ds, "SeriesInstanceUID")
            if not uid:
                continue
            rows.append(
                SeriesRow(
                    series_uid=uid,
                    study_uid=study_uid,
                    modality=_text(ds, "Modality"),
                    series_number=_int(ds, "SeriesNumber"),
                    series_description=_text(ds, "SeriesDescription"),
                    station_name=_text(ds, "StationName"),
                    n_instances=_int(ds, "NumberOfSeriesRelatedInstances"),
                )
            )
        return rows

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
        rows = []
        for ds in self.find(q):
            uid = _text(ds, "SOPInstanceUID")
            if not uid:
                continue
            rows.append(
                InstanceRow(
                    sop_instance_uid=uid,
                    sop_class_uid=_text(ds, "SOPClassUID"),
                    series_uid=series_uid,
                    study_uid=study_uid,
                    instance_number=_int(ds, "InstanceNumber"),
                )
            )
        return rows

    def index_study(self, study: StudyRow) -> StudyIndex:
        return StudyIndex(study=study, series=self.find_series(study.study_uid))
