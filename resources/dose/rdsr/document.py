"""Recognising an X-Ray Radiation Dose SR document and reading its header (any PS3.16 dose template).

The X-Ray Radiation Dose SR IOD (PS3.3 A.35.8) is built from PS3.16 TID 10001 Projection X-Ray
Radiation Dose or TID 10011 CT Radiation Dose at the root ("X-Ray Radiation Dose SR IOD Templates" and
"CT Radiation Dose SR IOD Templates" in PS3.16): either way the root concept is X-Ray Radiation Dose
Report (DCM 113701), and which template it is is told by Procedure reported (DCM 121058) and, for CT
reports that omit it, by the presence of CT containers. The radiopharmaceutical report (TID 10021) has
its own SOP class. The same templates also arrive in Enhanced SR (GE scanners before RDSR support) and
Comprehensive SR objects, which are recognised alike.

Recognition looks only at the header and the root's direct children: a file that is not the report a
reader wants is turned away before anything is half-parsed.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources import sop_classes
from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.rdsr.content_items import CONCEPT_CODE, CONCEPT_NAME, CONTENT_SEQUENCE, Item, sequence_of
from resources.dose.rdsr.content_tree import (
    TextDecoder,
    children,
    first_code,
    header_ascii,
    header_value,
    parse_date,
)

_SOP_CLASS_UID = 0x00080016
_SPECIFIC_CHARSET = BaseTag(0x00080005)

# The SR storage classes that can carry an X-ray dose template, by the name a report gives its document.
STORAGE_NAMES = {
    sop_classes.XRAY_RADIATION_DOSE_SR: "xray_radiation_dose_sr",
    sop_classes.ENHANCED_SR: "enhanced_sr",
    sop_classes.COMPREHENSIVE_SR: "comprehensive_sr",
    sop_classes.COMPREHENSIVE_3D_SR: "comprehensive_3d_sr",
}


class DoseReportKind(enum.StrEnum):
    """Which PS3.16 dose template a document carries at its root."""

    CT = "ct"  # TID 10011 CT Radiation Dose
    PROJECTION_XRAY = "projection_xray"  # TID 10001 for fluoroscopy and radiography
    MAMMOGRAPHY = "mammography"  # TID 10001 with TID 10003 mammography events
    RADIOPHARMACEUTICAL = "radiopharmaceutical"  # TID 10021 Radiopharmaceutical Radiation Dose


@dataclass(frozen=True, slots=True)
class RecognisedDocument:
    """What a document is (PS3.3 A.35.8 X-Ray Radiation Dose SR or another), from its header and root."""

    sop_class_uid: str
    storage: str | None  # a name of STORAGE_NAMES; None when the SOP class cannot carry the templates
    root_concept: Code | None
    procedure_reported: Code | None
    kind: DoseReportKind | None  # None: no dose template (not an SR, or another root concept)
    root_item: Item  # the root concept and the content tree, parsed once


def root_item(ds: Dataset) -> Item:
    """The document's root concept and content tree as items (the content tree parsed once, here)."""
    return {
        CONCEPT_NAME: sequence_of(ds, CONCEPT_NAME),
        CONTENT_SEQUENCE: sequence_of(ds, CONTENT_SEQUENCE),
    }


def recognise_document(ds: Dataset, root: Item | None = None) -> RecognisedDocument:
    """Say which dose template, if any, a dataset carries.

    Parameters
    ----------
    ds
        The dataset (the content tree is parsed here, once, and kept in the result).
    root
        The root item when the caller has parsed it already (the projection reader parses a damaged
        content tree item by item, keeping what precedes the damage).

    Returns
    -------
    RecognisedDocument
    """
    sop_class = header_ascii(ds, _SOP_CLASS_UID) or ""
    if root is None:
        root = root_item(ds)
    if sop_class == sop_classes.RADIOPHARMACEUTICAL_RADIATION_DOSE_SR:
        return RecognisedDocument(sop_class, None, None, None, DoseReportKind.RADIOPHARMACEUTICAL, root)
    storage = STORAGE_NAMES.get(sop_class) if sop_class in sop_classes.DOSE_CAPABLE_SOP_CLASSES else None
    if storage is None:
        return RecognisedDocument(sop_class, None, None, None, None, root)
    root_concept = first_code(root, CONCEPT_NAME)
    if root_concept != codes.XRAY_RADIATION_DOSE_REPORT:
        return RecognisedDocument(sop_class, storage, root_concept, None, None, root)
    has_ct_container = False
    procedure: Code | None = None
    for node in children(root):
        if node.concept == codes.PROCEDURE_REPORTED:
            procedure = first_code(node.item, CONCEPT_CODE)
        elif node.concept == codes.CT_ACQUISITION or node.concept == codes.CT_ACCUMULATED_DOSE_DATA:
            has_ct_container = True
    if procedure in codes.COMPUTED_TOMOGRAPHY_PROCEDURES or has_ct_container:
        kind = DoseReportKind.CT
    elif procedure in codes.MAMMOGRAPHY_PROCEDURES:
        kind = DoseReportKind.MAMMOGRAPHY
    else:
        # TID 10001 for fluoroscopy, interventional and radiography: Procedure reported Projection X-Ray
        # (DCM 113704), or none at all (GE OEC C-arms declare no procedure).
        kind = DoseReportKind.PROJECTION_XRAY
    return RecognisedDocument(sop_class, storage, root_concept, procedure, kind, root)


def text_decoder(ds: Dataset) -> TextDecoder:
    """A decoder for the dataset's declared Specific Character Set (the last value, as PS3.5 allows)."""
    charset_value = ds.get_item(_SPECIFIC_CHARSET).value if _SPECIFIC_CHARSET in ds else ""
    if isinstance(charset_value, bytes | bytearray):
        charset_value = bytes(charset_value).decode("ascii", errors="replace")
    declared = str(charset_value).split("\\")[-1].strip() if charset_value else ""
    return TextDecoder(declared)


@dataclass(frozen=True, slots=True)
class DocumentHeader:
    """The header attributes a dose report keeps: those of the (de-identified) file."""

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


def header_text(ds: Dataset, tag: int, decoder: TextDecoder) -> str | None:
    """A top-level attribute of a text VR decoded with the document's character set, or None."""
    raw = header_value(ds, tag)
    return decoder.text(raw) or None if raw is not None else None


def read_patient_weight(ds: Dataset, decoder: TextDecoder) -> float | None:
    """Patient's Weight (0010,1030) in kg, or None when absent or not a number."""
    weight_text = header_text(ds, 0x00101030, decoder)
    try:
        return float(weight_text) if weight_text else None
    except ValueError:
        return None


def read_header(ds: Dataset, decoder: TextDecoder, patient_weight_kg: float | None) -> DocumentHeader:
    """The header attributes of a dose report; free text goes through ``decoder``.

    The weight is read separately (:func:`read_patient_weight`) so that a reader can take the decoder's
    character-set verdict between the two.
    """
    return DocumentHeader(
        sop_class_uid=header_ascii(ds, _SOP_CLASS_UID) or "",
        sop_instance_uid=header_ascii(ds, 0x00080018) or "",
        study_instance_uid=header_ascii(ds, 0x0020000D) or "",
        series_instance_uid=header_ascii(ds, 0x0020000E) or "",
        study_date=parse_date(header_ascii(ds, 0x00080020)),
        patient_id=header_text(ds, 0x00100020, decoder),
        patient_age=header_ascii(ds, 0x00101010),
        patient_sex=header_ascii(ds, 0x00100040),
        patient_weight_kg=patient_weight_kg,
        manufacturer=header_text(ds, 0x00080070, decoder),
        model_name=header_text(ds, 0x00081090, decoder),
        station_name=header_text(ds, 0x00081010, decoder),
        study_description=header_text(ds, 0x00081030, decoder),
    )
