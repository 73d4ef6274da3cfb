"""PS3.16 TID 10001 Projection X-Ray Radiation Dose: the fluoroscopy, radiography and mammography report.

TID 10001 (in "X-Ray Radiation Dose SR IOD Templates") is the root of a projection X-ray dose report:
root container X-Ray Radiation Dose Report (DCM 113701), procedure reported (Projection X-Ray or
Mammography; GE OEC C-arms state none), TID 1002 observer context, scope of accumulation, one TID 10002
Accumulated X-Ray Dose Data per acquisition plane (two on a biplane system) and one TID 10003
Irradiation Event X-Ray Data per irradiation event. The same template carried in an Enhanced SR or a
Comprehensive SR is read alike and the carrier is flagged (``carrier:<storage>``).

The reader is the CT reader's sibling (:mod:`.ct_radiation_dose`): the same raw content-tree decoding,
the same recognition (:mod:`.document`), frozen results, quirks flagged rather than fixed silently. Where
it differs is damage: a truncated file gives the events that precede the damage, with ``partial`` set
and the flag ``truncated_content_tree`` (never a silent short report); the CT reader refuses such a file.
Report-level flags: ``no_study_time`` (Study Time empty or absent), ``no_accumulated_dose_data``, the
character-set flag of :mod:`.content_tree`, and those of each accumulated container.

Reading a file is streamed (:class:`ProjectionDoseStream`): the file is read front to back in a window of
a few hundred KB (:mod:`.projection_stream`) and each of the root's children is read into its typed
result and dropped, so the memory a read needs does not grow with the report (the events the caller
keeps aside). :func:`read_projection_radiation_dose` keeps them all and returns the whole report;
:meth:`ProjectionDoseStream.events` hands them out one at a time. A file the stream leaves alone (not
little endian, no preamble, damage outside the content tree) is read whole, as before streaming.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources.dose.errors import UnreadableFileError
from resources.dose.rdsr.content_items import (
    CONCEPT_NAME,
    CONTENT_SEQUENCE,
    PYDICOM_DCMREAD_ERRORS,
    ContentTreeFormatError,
    Item,
    parse_item,
    sequence_of,
)
from resources.dose.rdsr.content_tree import ContentNode, children
from resources.dose.rdsr.document import root_item
from resources.dose.rdsr.projection_file import read_lean_file
from resources.dose.rdsr.projection_irradiation_event_data import ProjectionIrradiationEventData
from resources.dose.rdsr.projection_report import (
    PROJECTION_KINDS,
    TRUNCATED_FLAG,
    NotAProjectionDoseReportError,
    ProjectionReportAssembler,
    ProjectionXRayRadiationDose,
    plane_of,
)
from resources.dose.rdsr.projection_stream import ContentStream, StreamLayoutError

__all__ = [
    "PROJECTION_KINDS",
    "TRUNCATED_FLAG",
    "NotAProjectionDoseReportError",
    "ProjectionDoseStream",
    "ProjectionXRayRadiationDose",
    "plane_of",
    "read_dataset",
    "read_projection_radiation_dose",
]

_ITEM_HEADER = struct.Struct("<HHI").unpack_from
_UNDEFINED = 0xFFFFFFFF
_SOP_CLASS_UID = BaseTag(0x00080016)


def _leading_items(buf: bytes, implicit: bool) -> list[Item]:
    """The complete items at the start of a damaged sequence value, up to the first damaged one."""
    items: list[Item] = []
    pos = 0
    while pos + 8 <= len(buf):
        group, element, length = _ITEM_HEADER(buf, pos)
        if (group, element) != (0xFFFE, 0xE000):
            break
        pos += 8
        try:
            if length == _UNDEFINED:
                item, pos = parse_item(buf, pos, None, implicit)
            elif pos + length > len(buf):
                break
            else:
                item = parse_item(buf, pos, pos + length, implicit)[0]
                pos += length
        except (ContentTreeFormatError, struct.error):
            break
        items.append(item)
    return items


def _root(ds: Dataset, content: list[Item] | None = None, truncated: bool = False) -> tuple[Item, bool]:
    """The root item and whether its content tree was cut short (then only its sound leading items).

    ``content`` is the Content Sequence when the file reader parsed it already; ``truncated`` says that
    reader found the data ending inside it.
    """
    if content is not None:
        return {CONCEPT_NAME: sequence_of(ds, CONCEPT_NAME), CONTENT_SEQUENCE: content}, False
    element = ds.get_item(BaseTag(CONTENT_SEQUENCE)) if CONTENT_SEQUENCE in ds else None
    raw = (
        element
        if isinstance(element, RawDataElement)
        and isinstance(element.value, bytes)
        and element.is_little_endian
        else None
    )
    cut = truncated or (raw is not None and raw.length != _UNDEFINED and len(raw.value) < raw.length)
    if not cut:
        try:
            return root_item(ds), False
        except ContentTreeFormatError:
            if raw is None:
                raise
    if raw is None or not isinstance(raw.value, bytes):
        raise ContentTreeFormatError("content tree cut short and not available as bytes")
    items = _leading_items(raw.value, raw.is_implicit_VR)
    return {CONCEPT_NAME: sequence_of(ds, CONCEPT_NAME), CONTENT_SEQUENCE: items}, True


def read_dataset(ds: Dataset, source: str = "<dataset>") -> ProjectionXRayRadiationDose:
    """Read a projection X-ray dose report (TID 10001) from a dataset already in memory.

    Parameters
    ----------
    ds
        The dataset (full, including the content tree).
    source
        How to name the file in messages and in the result (a path or a UID, never patient data).

    Returns
    -------
    ProjectionXRayRadiationDose
        ``partial`` and the flag ``truncated_content_tree`` when the content tree was cut short.

    Raises
    ------
    NotAProjectionDoseReportError
        When the dataset is not a projection X-ray dose report.
    UnreadableFileError
        When its content tree is damaged before any of it can be read.
    """
    return _read(ds, source)


def _read(
    ds: Dataset, source: str, content: list[Item] | None = None, cut: bool = False
) -> ProjectionXRayRadiationDose:
    try:
        root, truncated = _root(ds, content, cut)
    except ContentTreeFormatError as exc:
        raise UnreadableFileError(f"{source}: damaged content tree: {exc}") from exc
    assembler = ProjectionReportAssembler(ds, source)
    events = [event for node in children(root) if (event := assembler.add(ds, node)) is not None]
    return assembler.finish(ds, tuple(events), truncated)


def _read_whole_file(path: str | Path, source: str) -> ProjectionXRayRadiationDose:
    """The file read into memory at once: from its bytes when little endian, else by pydicom."""
    try:
        lean = read_lean_file(path)
    except OSError as exc:
        raise UnreadableFileError(f"{source}: cannot read: {type(exc).__name__}") from exc
    if lean is not None:
        ds, content, cut = lean.dataset, lean.content, lean.truncated
    else:  # not little endian, or no preamble: pydicom reads it
        try:
            ds, content, cut = pydicom.dcmread(path, force=True), None, False
        except PYDICOM_DCMREAD_ERRORS as exc:
            raise UnreadableFileError(f"{source}: cannot read as DICOM: {type(exc).__name__}") from exc
    _require_sop_class(ds, source)
    return _read(ds, source, content, cut)


def _require_sop_class(ds: Dataset, source: str) -> None:
    if _SOP_CLASS_UID not in ds:
        raise NotAProjectionDoseReportError(source, "not_dicom", "no SOP Class UID (not a DICOM object)")


def _node(item: Item) -> ContentNode:
    return next(children({CONTENT_SEQUENCE: [item]}))


class ProjectionDoseStream:
    """A projection X-ray dose report read from a file one irradiation event at a time.

    Iterate :meth:`events` to the end, then :meth:`report` gives the rest of the report (header,
    accumulated containers, flags; ``events`` empty). The memory a read needs is a window of the file
    and one event's content items, whatever the number of events.

    Examples
    --------
    >>> with ProjectionDoseStream(path) as stream:  # doctest: +SKIP
    ...     dap = sum(e.dose_area_product_gym2 or 0.0 for e in stream.events())
    ...     flags = stream.report().flags
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.source = str(path)
        self._report: ProjectionXRayRadiationDose | None = None
        self._stream: ContentStream | None = None

    def __enter__(self) -> ProjectionDoseStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def events(self) -> Iterator[ProjectionIrradiationEventData]:
        """The report's irradiation events in the order of the file.

        A file the stream leaves to the whole-file reader is read whole first. Should it show so only
        after events were handed out: damage inside the content tree ends the events there (the report
        is ``partial``, as for a truncated file); damage after it raises.

        Raises
        ------
        UnreadableFileError
            When the file is not DICOM, cannot be read, or is damaged after its content tree.
        NotAProjectionDoseReportError
            When the file is DICOM but not a projection X-ray dose report.
        """
        count = 0
        try:
            for event in self._streamed(strict=False):
                count += 1
                yield event
        except StreamLayoutError as exc:
            if count:
                raise UnreadableFileError(f"{self.source}: damaged after its content tree: {exc}") from exc
            whole = _read_whole_file(self.path, self.source)
            self._report = dataclasses.replace(whole, events=())
            yield from whole.events

    def report(self) -> ProjectionXRayRadiationDose:
        """The report without its events (``events == ()``), once :meth:`events` has run to its end.

        Raises
        ------
        RuntimeError
            When the events have not all been read yet.
        """
        if self._report is None:
            raise RuntimeError(f"{self.source}: read the events to their end before the report")
        return self._report

    def _streamed(self, strict: bool) -> Iterator[ProjectionIrradiationEventData]:
        """The events, streamed; :class:`StreamLayoutError` when the file is one to read whole.

        ``strict``: any layout the stream leaves alone raises, even after events (the caller collects
        them and can start again); otherwise damage inside the content tree after events ends them.
        """
        source = self.source
        try:
            stream = ContentStream.open(self.path)
        except OSError as exc:
            raise UnreadableFileError(f"{source}: cannot read: {type(exc).__name__}") from exc
        if stream is None:
            raise StreamLayoutError("not little-endian DICOM with a preamble")
        self._stream = stream
        try:
            header = stream.header()
            _require_sop_class(header, source)
            assembler = ProjectionReportAssembler(header, source)
            truncated = False
            items = stream.items()
            while True:
                try:
                    item = next(items, None)
                except StreamLayoutError:
                    if strict or not stream.in_content:
                        raise
                    truncated = True  # events were read: end them here, flagged, as for a cut file
                    break
                if item is None:
                    break
                event = assembler.add(header, _node(item))
                if event is not None:
                    yield event
            self._report = assembler.finish(stream.dataset, (), truncated or stream.truncated)
        except OSError as exc:
            raise UnreadableFileError(f"{source}: cannot read: {type(exc).__name__}") from exc
        finally:
            self.close()


def read_projection_radiation_dose(path: str | Path) -> ProjectionXRayRadiationDose:
    """Read a projection X-ray dose report (TID 10001) from a file, streamed (see the module docstring).

    Raises
    ------
    UnreadableFileError
        When the file is not DICOM or cannot be read.
    NotAProjectionDoseReportError
        When the file is DICOM but not a projection X-ray dose report.
    """
    stream = ProjectionDoseStream(path)
    try:
        events = tuple(stream._streamed(strict=True))
    except StreamLayoutError:
        return _read_whole_file(path, stream.source)
    return dataclasses.replace(stream.report(), events=events)
