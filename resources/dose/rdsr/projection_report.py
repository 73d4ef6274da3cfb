"""The TID 10001 report as a value, and its assembly from the root's children one at a time.

:class:`ProjectionXRayRadiationDose` is what a projection X-ray dose report says (the reader's result).
:class:`ProjectionReportAssembler` builds it from the document's header and the root's children, which
it is given one at a time, so that a reader streaming a large report (:mod:`.projection_radiation_dose`)
never holds more than one irradiation event's content items. The header alone is enough to turn away
what is not a projection report (not an SR, another root concept, a radiopharmaceutical report); a CT
container or a CT procedure among the children turns the report away where it is met.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pydicom.dataset import Dataset

from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.rdsr import projection_codes as pc
from resources.dose.rdsr.content_items import (
    CONCEPT_CODE,
    CONCEPT_NAME,
    CONTENT_SEQUENCE,
    ContentTreeFormatError,
    Item,
    sequence_of,
)
from resources.dose.rdsr.content_tree import (
    CHARSET_MISMATCH_FLAG,
    ContentNode,
    code_meaning,
    header_ascii,
)
from resources.dose.rdsr.document import (
    DoseReportKind,
    RecognisedDocument,
    read_header,
    read_patient_weight,
    recognise_document,
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
from resources.dose.rdsr.projection_irradiation_event_data import (
    ProjectionIrradiationEventData,
    read_projection_irradiation_event_data,
)

PROJECTION_KINDS = frozenset({DoseReportKind.PROJECTION_XRAY, DoseReportKind.MAMMOGRAPHY})
TRUNCATED_FLAG = "truncated_content_tree"
# Children that decide which template a document carries (:func:`.document.recognise_document`).
_RECOGNITION_CONCEPTS = frozenset(
    {codes.PROCEDURE_REPORTED, codes.CT_ACQUISITION, codes.CT_ACCUMULATED_DOSE_DATA}
)


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


class ProjectionReportAssembler:
    """Builds a :class:`ProjectionXRayRadiationDose` from the root's children, given one at a time.

    Parameters
    ----------
    ds
        The document's top-level elements before the Content Sequence (the SOP class, the character set
        and the root concept are read from it here).
    source
        How to name the file in messages (a path or a UID, never patient data).

    Raises
    ------
    NotAProjectionDoseReportError
        When the header alone shows the document is not a projection X-ray dose report.
    UnreadableFileError
        When the root concept cannot be read.
    """

    def __init__(self, ds: Dataset, source: str) -> None:
        self.source = source
        try:
            self._concept_name = sequence_of(ds, CONCEPT_NAME)
        except ContentTreeFormatError as exc:
            raise UnreadableFileError(f"{source}: damaged content tree: {exc}") from exc
        self._recognition: list[Item] = []  # the few children recognition looks at, kept to the end
        self._recognise(ds)
        self.decoder = text_decoder(ds)
        self._observer = DeviceObserverReader(self.decoder)
        self._accumulated: list[ProjectionAccumulatedDoseData] = []
        self._scope: str | None = None
        self._source_of_dose: str | None = None

    def _recognise(self, ds: Dataset) -> RecognisedDocument:
        root = {CONCEPT_NAME: self._concept_name, CONTENT_SEQUENCE: self._recognition}
        document = recognise_document(ds, root)
        document_type, reason = _document_type(document)
        if reason is not None or document.kind is None:
            raise NotAProjectionDoseReportError(self.source, document_type, reason or "no dose template")
        return document

    def add(self, ds: Dataset, node: ContentNode) -> ProjectionIrradiationEventData | None:
        """Read one child of the root; an irradiation event is returned (and not kept here).

        Raises
        ------
        NotAProjectionDoseReportError
            When the child shows the document is a CT dose report.
        """
        concept = node.concept
        if concept == pc.IRRADIATION_EVENT_XRAY_DATA:
            return read_projection_irradiation_event_data(node, self.decoder)
        if concept == pc.ACCUMULATED_XRAY_DOSE_DATA:
            self._accumulated.append(read_projection_accumulated_dose_data(node, self.decoder))
        elif concept in DEVICE_OBSERVER_CONCEPTS:
            self._observer.read(node)
        elif concept == codes.SCOPE_OF_ACCUMULATION:
            self._scope = code_meaning(node.item, CONCEPT_CODE, self.decoder)
        elif concept == pc.SOURCE_OF_DOSE_INFORMATION:
            self._source_of_dose = code_meaning(node.item, CONCEPT_CODE, self.decoder)
        if concept in _RECOGNITION_CONCEPTS:
            self._recognition.append(node.item)
            self._recognise(ds)
        return None

    def finish(
        self, ds: Dataset, events: tuple[ProjectionIrradiationEventData, ...], truncated: bool
    ) -> ProjectionXRayRadiationDose:
        """The report, from the whole top level ``ds`` and the events read (``()`` for a streamed one)."""
        document = self._recognise(ds)
        document_type = _document_type(document)[0]
        decoder = self.decoder
        accumulated = self._accumulated
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
        assert document.kind is not None  # _recognise raised otherwise
        return ProjectionXRayRadiationDose(
            source=self.source,
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
            device_observer=self._observer.build(),
            scope_of_accumulation=self._scope,
            source_of_dose_information=self._source_of_dose,
            accumulated=tuple(accumulated),
            events=events,
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
