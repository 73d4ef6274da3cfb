"""A small pure-Python Query/Retrieve SCP serving a folder of DICOM files (for the demo and fast tests).

Supports C-ECHO, Study Root C-FIND at STUDY/SERIES/IMAGE level (single-value, wildcard ``*``/``?``,
date range ``A-B`` and UID-list matching; ModalitiesInStudy and the related-counts computed), C-MOVE to
the destinations it was told about, and C-GET. It reads the folder's headers once at start.

    with DemoPacs(folder, "DEMO_PACS", known_destinations={"DICOM_LAKE": ("127.0.0.1", 11113)}) as pacs:
        port = pacs.port
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pynetdicom import AllStoragePresentationContexts, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from resources.dicom_network.association import (
    NetworkOptions,
    make_ae,
    nodelay_handlers,
    share_supported_contexts,
)
from resources.dicom_network.status import FindStatus, MoveStatus
from resources.pacs.reactor_pause import reactor_pause_handlers

log = logging.getLogger(__name__)

_STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientID",
    "PatientName",
    "StudyDescription",
    "StudyID",
)
_SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "StationName")
_IMAGE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber")
_DATE_KEYS = {"StudyDate"}


@dataclass(frozen=True)
class _Entry:
    path: Path
    attrs: Mapping[str, str]


def _matches(pattern: str, value: str, keyword: str) -> bool:
    if pattern in ("", "*"):
        return True
    if keyword.endswith("UID"):
        return value in pattern.split("\\")
    if keyword in _DATE_KEYS and "-" in pattern:
        low, high = pattern.split("-", 1)
        return (not low or value >= low) and (not high or value <= high)
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(value.upper(), pattern.upper())
    return value == pattern


class DemoPacs:
    """The demo Query/Retrieve SCP; ``start()`` returns the bound port, ``stop()`` shuts it down."""

    def __init__(
        self,
        folder: Path | str,
        ae_title: str = "DEMO_PACS",
        port: int = 0,
        known_destinations: Mapping[str, tuple[str, int]] | None = None,
        *,
        bind: str = "127.0.0.1",
        allowed_calling_ae_titles: set[str] | None = None,
        image_level_for_sr: bool = True,
        options: NetworkOptions | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.ae_title = ae_title
        self.requested_port = port
        self.known_destinations = dict(known_destinations or {})
        self.bind = bind
        self.allowed_calling_ae_titles = allowed_calling_ae_titles
        self.image_level_for_sr = image_level_for_sr  # False imitates a PACS silent at IMAGE level for SR
        self.options = options or NetworkOptions()
        self._entries: list[_Entry] = []
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()
        self.moves_served = 0
        # (level, attribute keywords) of each C-FIND served: which return keys callers ask for.
        self.find_keys: list[tuple[str, frozenset[str]]] = []

    # -- lifecycle -----------------------------------------------------------------------------------
    def reload(self) -> int:
        """Re-read the folder's headers; returns the number of instances served."""
        entries = []
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file() or path.name == "manifest.json":
                continue
            try:
                ds = dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, OSError, ValueError):
                continue
            if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
                continue
            attrs = {k: str(ds.get(k, "") or "") for k in (*_STUDY_KEYS, *_SERIES_KEYS, *_IMAGE_KEYS)}
            entries.append(_Entry(path, attrs))
        with self._lock:
            self._entries = entries
        return len(entries)

    def start(self) -> int:
        """Load the folder and start serving in background threads; returns the port."""
        self.reload()
        ae = make_ae(self.ae_title, self.options)
        ae.add_supported_context(Verification)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        for context in AllStoragePresentationContexts:
            # C-GET sends back over this association: we act as SCU of the storage classes.
            ae.add_supported_context(str(context.abstract_syntax), scu_role=True, scp_role=True)
        for context in AllStoragePresentationContexts[:127]:
            ae.add_requested_context(str(context.abstract_syntax))
        if self.allowed_calling_ae_titles is not None:
            ae.require_calling_aet = sorted(self.allowed_calling_ae_titles)
        handlers: list[Any] = [
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_MOVE, self._on_move),
            (evt.EVT_C_GET, self._on_get),
            *nodelay_handlers(self.options.tcp_nodelay),
        ]
        self._server = ae.start_server(
            (self.bind, self.requested_port), block=False, evt_handlers=handlers, ae_title=self.ae_title
        )
        share_supported_contexts(self._server)
        return self.port

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the demo PACS is not running")
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> DemoPacs:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- matching ------------------------------------------------------------------------------------
    def _select(self, query: Dataset) -> tuple[str, list[_Entry]]:
        level = str(query.get("QueryRetrieveLevel", "")).upper()
        with self._lock:
            entries = list(self._entries)
        allowed = {"STUDY": _STUDY_KEYS, "SERIES": (*_STUDY_KEYS, *_SERIES_KEYS)}.get(
            level, (*_STUDY_KEYS, *_SERIES_KEYS, *_IMAGE_KEYS)
        )
        for element in query:
            keyword = element.keyword
            if keyword not in allowed:
                continue
            pattern = "" if element.value is None else element.value
            pattern = "\\".join(str(v) for v in pattern) if not isinstance(pattern, str) else pattern
            if keyword == "ModalitiesInStudy":
                continue
            if pattern in ("", "*"):
                continue
            entries = [e for e in entries if _matches(str(pattern), e.attrs.get(keyword, ""), keyword)]
        if level in ("STUDY", "SERIES") and str(query.get("ModalitiesInStudy", "") or ""):
            wanted = set(str(query.ModalitiesInStudy).split("\\"))
            studies = {e.attrs["StudyInstanceUID"] for e in entries if e.attrs.get("Modality") in wanted}
            entries = [e for e in entries if e.attrs["StudyInstanceUID"] in studies]
        return level, entries

    def _on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        level, entries = self._select(query)
        with self._lock:
            self.find_keys.append((str(level), frozenset(e.keyword for e in query if e.keyword)))
        if level not in ("STUDY", "SERIES", "IMAGE"):
            yield FindStatus.UNABLE_TO_PROCESS, None
            return
        key = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}[level]
        groups: dict[str, list[_Entry]] = {}
        for entry in entries:
            groups.setdefault(entry.attrs[key], []).append(entry)
        for members in groups.values():
            if event.is_cancelled:
                yield FindStatus.CANCEL, None
                return
            first = members[0]
            if level == "IMAGE" and not self.image_level_for_sr and first.attrs.get("Modality") == "SR":
                continue
            answer = Dataset()
            answer.QueryRetrieveLevel = level
            for element in query:
                keyword = element.keyword
                if not keyword or keyword == "QueryRetrieveLevel":
                    continue
                if keyword == "ModalitiesInStudy":
                    study = first.attrs["StudyInstanceUID"]
                    mods = sorted(
                        {
                            e.attrs["Modality"]
                            for e in self._entries
                            if e.attrs["StudyInstanceUID"] == study and e.attrs["Modality"]
                        }
                    )
                    answer.ModalitiesInStudy = mods
                elif keyword == "NumberOfStudyRelatedInstances":
                    answer.NumberOfStudyRelatedInstances = len(members) if level == "STUDY" else None
                elif keyword == "NumberOfStudyRelatedSeries":
                    answer.NumberOfStudyRelatedSeries = len({e.attrs["SeriesInstanceUID"] for e in members})
                elif keyword == "NumberOfSeriesRelatedInstances":
                    answer.NumberOfSeriesRelatedInstances = len(members) if level == "SERIES" else None
                elif keyword in first.attrs:
                    value = first.attrs[keyword]
                    setattr(answer, keyword, value if value != "" else None)
            yield FindStatus.PENDING, answer

    def _instances(self, query: Dataset) -> list[_Entry]:
        _level, entries = self._select(query)
        return entries

    def _on_move(self, event: evt.Event) -> Iterator[Any]:
        destination = self.known_destinations.get(str(event.move_destination).strip())
        if destination is None:
            yield None, None
            return
        entries = self._instances(event.identifier)
        # The sub-association to the destination is opened by pynetdicom with these keyword arguments:
        # our socket options must reach it too, or every C-STORE stalls on Nagle's algorithm.
        sub_association = {
            "contexts": self._contexts_for(entries),
            # Back-to-back C-STOREs on it need the exact reactor pause (resources.pacs.reactor_pause).
            "evt_handlers": [*nodelay_handlers(self.options.tcp_nodelay), *reactor_pause_handlers()],
        }
        yield destination[0], destination[1], sub_association
        yield len(entries)
        with self._lock:
            self.moves_served += 1
        yield from self._send(event, entries)

    def _on_get(self, event: evt.Event) -> Iterator[Any]:
        entries = self._instances(event.identifier)
        yield len(entries)
        yield from self._send(event, entries)

    @staticmethod
    def _contexts_for(entries: list[_Entry]) -> list[Any]:
        from pynetdicom import build_context

        classes = sorted({e.attrs["SOPClassUID"] for e in entries if e.attrs.get("SOPClassUID")})
        return [build_context(uid) for uid in classes[:128]]

    @staticmethod
    def _send(event: evt.Event, entries: list[_Entry]) -> Iterator[tuple[int, Dataset | None]]:
        for entry in entries:
            if event.is_cancelled:
                yield MoveStatus.CANCEL, None
                return
            try:
                ds = dcmread(entry.path)
            except (InvalidDicomError, OSError, ValueError):
                yield MoveStatus.OUT_OF_RESOURCES_SUBOPERATIONS, None
                continue
            yield MoveStatus.PENDING, ds
