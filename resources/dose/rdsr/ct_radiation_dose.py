"""PS3.16 TID 10011 CT Radiation Dose: the CT dose report document and its reader.

PS3.16 TID 10011 (in "CT Radiation Dose SR IOD Templates") is the root of a CT dose report: root
container X-Ray Radiation Dose Report (DCM 113701), procedure reported, TID 1002 observer context, the
start and end of X-ray irradiation, one TID 10012 CT Accumulated Dose Data and one TID 10013 CT
Irradiation Event Data per irradiation event. The same template carried in an Enhanced SR (GE scanners
before RDSR support) or a Comprehensive SR is read the same way. Concepts are matched on code value +
scheme (:mod:`resources.dose.codes`).

Real vendor files are not conformant in known ways; the reader tolerates them and says so in the
result's flags rather than silently "fixing" numbers (the quirks of each level are listed in
:mod:`~resources.dose.rdsr.content_tree` and :mod:`~resources.dose.rdsr.ct_irradiation_event_data`).

A DICOM file that is not a CT dose report (an image, a projection X-ray or mammography dose SR, a
non-dose Enhanced SR) raises :class:`~resources.dose.errors.NotADoseReportError` after looking only at
its header and root concept (:mod:`~resources.dose.rdsr.document`): nothing is half-parsed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources.dose import codes
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.rdsr.content_items import DATETIME_VALUE, PYDICOM_DCMREAD_ERRORS, ContentTreeFormatError
from resources.dose.rdsr.content_tree import CHARSET_MISMATCH_FLAG, ascii_value, children, parse_datetime
from resources.dose.rdsr.ct_accumulated_dose_data import CTAccumulatedDoseData, CTAccumulatedDoseDataReader
from resources.dose.rdsr.ct_irradiation_event_data import (
    CTIrradiationEventData,
    read_ct_irradiation_event_data,
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


@dataclass(frozen=True, slots=True)
class CTRadiationDose:
    """PS3.16 TID 10011 CT Radiation Dose: what one CT dose SR file says.

    Header fields are those of the (de-identified) file.
    """

    source: str
    document_type: str  # "xray_radiation_dose_sr" | "enhanced_sr" | "comprehensive_sr"
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    study_date: dt.date | None
    patient_id: str | None  # research-zone pseudonym once de-identified; never printed or logged
    patient_age: str | None
    patient_sex: str | None
    patient_weight_kg: float | None
    manufacturer: str | None
    model_name: str | None
    station_name: str | None
    study_description: str | None
    device_observer: DeviceObserverIdentifyingAttributes
    start_of_xray_irradiation: dt.datetime | None
    end_of_xray_irradiation: dt.datetime | None
    accumulated: CTAccumulatedDoseData
    events: tuple[CTIrradiationEventData, ...]
    flags: tuple[str, ...] = ()

    @property
    def dlp_total_from_events(self) -> float:
        """Sum of the events' DLP (absent DLPs count as nothing, not as an error)."""
        return math.fsum(e.dlp_mgycm for e in self.events if e.dlp_mgycm is not None)


def _ct_document_type(document: RecognisedDocument) -> tuple[str, str | None]:
    """``(document_type, reason)``; ``reason`` is None for a CT dose report, else why it is not one."""
    if document.kind is DoseReportKind.RADIOPHARMACEUTICAL:
        return "radiopharmaceutical_dose_sr", "radiopharmaceutical dose SR (TID 10021), not CT"
    if document.storage is None:
        return "not_sr", f"SOP class {document.sop_class_uid or 'missing'} cannot carry TID 10011"
    if document.kind is None:
        return (
            "sr_without_dose_template",
            f"root concept {document.root_concept} is not X-Ray Radiation Dose Report (113701)",
        )
    if document.kind is DoseReportKind.CT:
        return document.storage, None
    if document.kind is DoseReportKind.MAMMOGRAPHY:
        return "mammography_dose_sr", "mammography dose SR (TID 10001/10003), not CT"
    return (
        "projection_xray_dose_sr",
        f"procedure reported {document.procedure_reported} is not CT and no CT event is present",
    )


def classify_document(ds: Dataset) -> tuple[str, str | None]:
    """Say what kind of document a dataset is, looking only at its header and root concept.

    Returns
    -------
    tuple
        ``(document_type, reason)``; ``reason`` is None for a CT dose report and otherwise says why the
        file is not one. Document types: ``xray_radiation_dose_sr``, ``enhanced_sr``,
        ``comprehensive_sr`` (CT dose reports) and ``not_sr``, ``radiopharmaceutical_dose_sr``,
        ``projection_xray_dose_sr``, ``mammography_dose_sr``, ``sr_without_dose_template``.
    """
    return _ct_document_type(recognise_document(ds))


def read_dataset(ds: Dataset, source: str = "<dataset>") -> CTRadiationDose:
    """Read a CT dose report (TID 10011) from a dataset already in memory.

    Parameters
    ----------
    ds
        The dataset (full, including the content tree).
    source
        How to name the file in messages and in the result (a path or a UID, never patient data).

    Returns
    -------
    CTRadiationDose

    Raises
    ------
    NotADoseReportError
        When the dataset is not a CT radiation dose report.
    UnreadableFileError
        When its content tree is damaged (truncated, lengths that do not add up).
    """
    try:
        return _read_dataset(ds, source)
    except ContentTreeFormatError as exc:
        raise UnreadableFileError(f"{source}: damaged content tree: {exc}") from exc


def _read_dataset(ds: Dataset, source: str) -> CTRadiationDose:
    document = recognise_document(ds)
    document_type, reason = _ct_document_type(document)
    if reason is not None:
        raise NotADoseReportError(source, document_type, reason)
    decoder = text_decoder(ds)
    observer = DeviceObserverReader(decoder)
    accumulated = CTAccumulatedDoseDataReader(decoder)
    events: list[CTIrradiationEventData] = []
    start = end = None
    for node in children(document.root_item):
        concept = node.concept
        if concept == codes.CT_ACQUISITION:
            events.append(read_ct_irradiation_event_data(node, decoder))
        elif concept == codes.CT_ACCUMULATED_DOSE_DATA:
            accumulated.read(node)
        elif concept == codes.START_OF_XRAY_IRRADIATION:
            start = parse_datetime(ascii_value(node.item, DATETIME_VALUE))
        elif concept == codes.END_OF_XRAY_IRRADIATION:
            end = parse_datetime(ascii_value(node.item, DATETIME_VALUE))
        elif concept in DEVICE_OBSERVER_CONCEPTS:
            observer.read(node)
    weight = read_patient_weight(ds, decoder)
    # The character-set flag speaks of the content tree and the weight; the header's names, decoded
    # next with the same decoder, do not set it.
    flags = list(accumulated.flags)
    if decoder.mismatch_seen:
        flags.append(CHARSET_MISMATCH_FLAG)
    header = read_header(ds, decoder, weight)
    return CTRadiationDose(
        source=source,
        document_type=document_type,
        sop_class_uid=header.sop_class_uid,
        sop_instance_uid=header.sop_instance_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        study_date=header.study_date,
        patient_id=header.patient_id,
        patient_age=header.patient_age,
        patient_sex=header.patient_sex,
        patient_weight_kg=header.patient_weight_kg,
        manufacturer=header.manufacturer,
        model_name=header.model_name,
        station_name=header.station_name,
        study_description=header.study_description,
        device_observer=observer.build(),
        start_of_xray_irradiation=start,
        end_of_xray_irradiation=end,
        accumulated=accumulated.build(),
        events=tuple(events),
        flags=tuple(flags),
    )


def read_ct_radiation_dose(path: str | Path) -> CTRadiationDose:
    """Read a CT dose report (TID 10011) from a file.

    Parameters
    ----------
    path
        A DICOM file (RDSR, Enhanced SR or Comprehensive SR carrying TID 10011).

    Returns
    -------
    CTRadiationDose

    Raises
    ------
    UnreadableFileError
        When the file is not DICOM or cannot be read.
    NotADoseReportError
        When the file is DICOM but not a CT dose report.
    """
    source = str(path)
    try:
        ds = pydicom.dcmread(path, force=True)
    except PYDICOM_DCMREAD_ERRORS as exc:
        raise UnreadableFileError(f"{source}: cannot read as DICOM: {type(exc).__name__}") from exc
    if BaseTag(0x00080016) not in ds:
        raise NotADoseReportError(source, "not_dicom", "no SOP Class UID (not a DICOM object)")
    return read_dataset(ds, source)
