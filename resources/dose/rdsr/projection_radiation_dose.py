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
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.rdsr import projection_codes as pc
from resources.dose.rdsr.content_items import (
    CONCEPT_CODE,
    CONCEPT_NAME,
    CONTENT_SEQUENCE,
    PYDICOM_DCMREAD_ERRORS,
    ContentTreeFormatError,
    Item,
    parse_item,
    sequence_of,
)
from resources.dose.rdsr.content_tree import CHARSET_MISMATCH_FLAG, children, code_meaning, header_ascii
from resources.dose.rdsr.document import (
    DoseReportKind,
    RecognisedDocument,
    read_header,
    read_patient_weight,
    recognise_document,
    root_item,
    text_decoder,
)
from resources.dose.rdsr.observer_context import (
    DEVICE_OBSERVER_CONCEPTS,
    DeviceObserverIdentifyingAttributes,
    DeviceObserverReader,
)
from resources.dose.rdsr.projection_accumulated_dose_data import (
    ProjectionAccumulatedDoseData,
    read_projection_accumulated_dose_data,
)
from resources.dose.rdsr.projection_codes import AcquisitionPlane, Laterality
from resources.dose.rdsr.projection_file import read_lean_file
from resources.dose.rdsr.projection_irradiation_event_data import (
    ProjectionIrradiationEventData,
    read_projection_irradiation_event_data,
)

PROJECTION_KINDS = frozenset({DoseReportKind.PROJECTION_XRAY, DoseReportKind.MAMMOGRAPHY})
TRUNCATED_FLAG = "truncated_content_tree"
_ITEM_HEADER = struct.Struct("<HHI").unpack_from
_UNDEFINED = 0xFFFFFFFF


class NotAProjectionDoseReportError(NotADoseReportError):
    """The file is readable DICOM but not a projection X-ray dose report (TID 10001)."""

    def __init__(self, source: str, document_type: str, reason: str) -> None:
        super().__init__(source, document_type, reason)
        self.args = (f"{source}: not a projection X-ray dose report ({document_type}): {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ProjectionXRayRadiationDose:
    """PS3.16 TID 10001 Projection X-Ray Radiation Dose: what one fluoroscopy/radiography/MG dose SR says.

    Header fields are those of the (de-identified) file.
    """

    source: str
    document_type: str  # "xray_radiation_dose_sr" | "enhanced_sr" | "comprehensive_sr" | ...
    kind: DoseReportKind  # PROJECTION_XRAY or MAMMOGRAPHY
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str | None
    study_date: dt.date | None
    study_time: dt.time | None
    patient_id: str | None  # research-zone pseudonym once de-identified; never printed or logged
    patient_age: str | None
    patient_sex: str | None
    patient_weight_kg: float | None
    manufacturer: str | None
    model_name: str | None
    station_name: str | None
    study_description: str | None
    procedure_reported: Code | None
    device_observer: DeviceObserverIdentifyingAttributes
    scope_of_accumulation: str | None
    source_of_dose_information: str | None
    accumulated: tuple[ProjectionAccumulatedDoseData, ...]
    events: tuple[ProjectionIrradiationEventData, ...]
    partial: bool = False
    flags: tuple[str, ...] = ()

    @property
    def planes(self) -> tuple[AcquisitionPlane, ...]:
        """The planes the report speaks of, single plane first, then A, then B."""
        found = {plane_of(a.acquisition_plane) for a in self.accumulated}
        found |= {plane_of(e.acquisition_plane) for e in self.events}
        return tuple(p for p in AcquisitionPlane if p in found)

    def accumulated_for(self, plane: AcquisitionPlane) -> ProjectionAccumulatedDoseData | None:
        """The report's own totals for one plane (None when it states none)."""
        return next((a for a in self.accumulated if plane_of(a.acquisition_plane) is plane), None)

    def events_in(self, plane: AcquisitionPlane | None = None) -> list[ProjectionIrradiationEventData]:
        return [e for e in self.events if plane is None or plane_of(e.acquisition_plane) is plane]

    def dap_total_from_events(self, plane: AcquisitionPlane | None = None) -> float:
        """Sum of the events' DAP in Gy.m2 (absent values count as nothing, not as an error)."""
        return math.fsum(e.dose_area_product_gym2 or 0.0 for e in self.events_in(plane))

    def dose_rp_total_from_events(self, plane: AcquisitionPlane | None = None) -> float:
        """Sum of the events' dose at the reference point in Gy."""
        return math.fsum(e.dose_rp_gy or 0.0 for e in self.events_in(plane))

    def agd_total_from_events(self, side: Laterality) -> float:
        """Sum of the events' average glandular dose in mGy for one breast."""
        return math.fsum(e.average_glandular_dose_mgy or 0.0 for e in self.events if e.laterality is side)


def plane_of(plane: AcquisitionPlane | None) -> AcquisitionPlane:
    """An event or container without a plane is read as single plane (one plane is all it can be)."""
    return plane or AcquisitionPlane.SINGLE


def _document_type(document: RecognisedDocument) -> tuple[str, str | None]:
    """``(document_type, reason)``; ``reason`` None for a projection report, else why it is not one."""
    if document.kind is DoseReportKind.RADIOPHARMACEUTICAL:
        return "radiopharmaceutical_dose_sr", "radiopharmaceutical dose SR (TID 10021), not projection X-ray"
    if document.storage is None:
        return "not_sr", f"SOP class {document.sop_class_uid or 'missing'} cannot carry TID 10001"
    if document.kind is None:
        return (
            "sr_without_dose_template",
            f"root concept {document.root_concept} is not X-Ray Radiation Dose Report (113701)",
        )
    if document.kind is DoseReportKind.CT:
        return "ct_dose_sr", "CT dose SR (TID 10011), not projection X-ray"
    return document.storage, None


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
    document = recognise_document(ds, root)
    document_type, reason = _document_type(document)
    if reason is not None or document.kind is None:
        raise NotAProjectionDoseReportError(source, document_type, reason or "no dose template")
    decoder = text_decoder(ds)
    observer = DeviceObserverReader(decoder)
    accumulated: list[ProjectionAccumulatedDoseData] = []
    events: list[ProjectionIrradiationEventData] = []
    scope = source_of_dose = None
    for node in children(document.root_item):
        concept = node.concept
        if concept == pc.IRRADIATION_EVENT_XRAY_DATA:
            events.append(read_projection_irradiation_event_data(node, decoder))
        elif concept == pc.ACCUMULATED_XRAY_DOSE_DATA:
            accumulated.append(read_projection_accumulated_dose_data(node, decoder))
        elif concept in DEVICE_OBSERVER_CONCEPTS:
            observer.read(node)
        elif concept == codes.SCOPE_OF_ACCUMULATION:
            scope = code_meaning(node.item, CONCEPT_CODE, decoder)
        elif concept == pc.SOURCE_OF_DOSE_INFORMATION:
            source_of_dose = code_meaning(node.item, CONCEPT_CODE, decoder)
    weight = read_patient_weight(ds, decoder)
    flags = [f for a in accumulated for f in a.flags]
    if decoder.mismatch_seen:
        flags.append(CHARSET_MISMATCH_FLAG)
    if truncated:
        flags.append(TRUNCATED_FLAG)
    if not accumulated:
        flags.append("no_accumulated_dose_data")
    if document_type != "xray_radiation_dose_sr":
        flags.append(f"carrier:{document_type}")
    study_time = _parse_time(header_ascii(ds, 0x00080030))
    if study_time is None:
        flags.append("no_study_time")
    header = read_header(ds, decoder, weight)
    return ProjectionXRayRadiationDose(
        source=source,
        document_type=document_type,
        kind=document.kind,
        sop_class_uid=header.sop_class_uid,
        sop_instance_uid=header.sop_instance_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        modality=header_ascii(ds, 0x00080060),
        study_date=header.study_date,
        study_time=study_time,
        patient_id=header.patient_id,
        patient_age=header.patient_age,
        patient_sex=header.patient_sex,
        patient_weight_kg=header.patient_weight_kg,
        manufacturer=header.manufacturer,
        model_name=header.model_name,
        station_name=header.station_name,
        study_description=header.study_description,
        procedure_reported=document.procedure_reported,
        device_observer=observer.build(),
        scope_of_accumulation=scope,
        source_of_dose_information=source_of_dose,
        accumulated=tuple(accumulated),
        events=tuple(events),
        partial=truncated,
        flags=tuple(dict.fromkeys(flags)),
    )


def _parse_time(text: str | None) -> dt.time | None:
    """A DICOM TM value (HH, HHMM, HHMMSS, with an optional fraction), or None."""
    if not text:
        return None
    core, _, fraction = text.strip().partition(".")
    if not core.isdigit() or len(core) not in (2, 4, 6):
        return None
    hour, minute, second = int(core[0:2]), int(core[2:4] or 0), int(core[4:6] or 0)
    micro = int(fraction[:6].ljust(6, "0")) if fraction.isdigit() else 0
    try:
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def read_projection_radiation_dose(path: str | Path) -> ProjectionXRayRadiationDose:
    """Read a projection X-ray dose report (TID 10001) from a file.

    Little-endian files are read from their bytes (:mod:`.projection_file`: no pydicom dataset parse,
    which for reports with undefined-length sequences costs seconds and tens of MB); others by pydicom.

    Raises
    ------
    UnreadableFileError
        When the file is not DICOM or cannot be read.
    NotAProjectionDoseReportError
        When the file is DICOM but not a projection X-ray dose report.
    """
    source = str(path)
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
    if BaseTag(0x00080016) not in ds:
        raise NotAProjectionDoseReportError(source, "not_dicom", "no SOP Class UID (not a DICOM object)")
    return _read(ds, source, content, cut)
