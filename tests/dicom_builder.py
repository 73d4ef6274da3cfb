"""The one place the tests build DICOM objects (pydicom datasets and Part 10 files, no real patient data).

Primitives: file meta and Part 10 writing, pixel data, code items, SR content items. Shapes: a CT or
MG image, a dose SR header and a study of series on disk, each with keyword overrides (a ``None`` value
leaves the element out). Preset: the small pixel CT the listener and spool tests send. A room's own
values (the de-identification tests' PHI-laden CT, the curation tests' Siemens CT) stay in its conftest
as a thin call on these.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import (
    CTImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

from resources import sop_classes

# Plain strings, as the code under test stores and compares them.
CT_IMAGE = str(CTImageStorage)
MG_IMAGE = str(DigitalMammographyXRayImageStorageForPresentation)
XRAY_DOSE_SR = sop_classes.XRAY_RADIATION_DOSE_SR
COMPREHENSIVE_SR = sop_classes.COMPREHENSIVE_SR
BASIC_TEXT_SR = sop_classes.BASIC_TEXT_SR

Code = tuple[str, str, str]
"""(CodeValue, CodingSchemeDesignator, CodeMeaning)."""

NUMERIC_VALUE = BaseTag(0x0040A30A)


# -- files -------------------------------------------------------------------------------------------
def file_meta(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> FileMetaDataset:
    """File meta naming the dataset's SOP class and instance."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def with_file_meta(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds.file_meta = file_meta(ds, transfer_syntax)
    return ds


def write_file(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a Part 10 file (file meta added when it has none, folders created)."""
    if not hasattr(ds, "file_meta"):
        with_file_meta(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_instance(ds: Dataset, folder: Path) -> Path:
    """Write ``ds`` as ``folder/<study UID>/<series UID>/<SOP instance UID>.dcm``."""
    return write_file(ds, folder / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm")


def encode(ds: Dataset) -> bytes:
    """The Part 10 bytes pydicom writes for ``ds`` (which must have its file meta)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# -- pixels ------------------------------------------------------------------------------------------
def ramp_pixels(rows: int, columns: int | None = None, start: int = 0) -> bytes:
    """16-bit pixels counting up from ``start``."""
    return (np.arange(rows * (columns or rows), dtype=np.uint16) + start).tobytes()


def pixel_module(
    rows: int, columns: int | None = None, *, bits_stored: int = 16, pixel_data: bytes | None = None
) -> dict[str, Any]:
    """Keyword values of a small unsigned 16-bit MONOCHROME2 image (zeros unless ``pixel_data``)."""
    columns = columns or rows
    return {
        "Rows": rows,
        "Columns": columns,
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "BitsAllocated": 16,
        "BitsStored": bits_stored,
        "HighBit": bits_stored - 1,
        "PixelRepresentation": 0,
        "PixelData": bytes(2 * rows * columns) if pixel_data is None else pixel_data,
    }


# -- codes and SR content items ----------------------------------------------------------------------
def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def content_item(
    value_type: str, concept: Code | None, relationship: str | None = "CONTAINS", **values: Any
) -> Dataset:
    """An SR content item; ``None`` concept or relationship leaves that element out."""
    item = Dataset()
    if relationship is not None:
        item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = [code_item(*concept)]
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def sr_num(concept: Code, value: str, unit: str, relationship: str | None = "CONTAINS") -> Dataset:
    """A NUM item in UCUM ``unit``; a value that is not a number is stored raw, as vendors write it."""
    measured = Dataset()
    measured.MeasurementUnitsCodeSequence = [code_item(unit, "UCUM", unit)]
    try:
        float(value)
    except ValueError:  # raw, so that pydicom does not refuse to build the invalid DS
        raw = value.encode() + (b" " if len(value) % 2 else b"")
        measured[NUMERIC_VALUE] = RawDataElement(NUMERIC_VALUE, "DS", len(raw), raw, 0, False, True)
    else:
        measured.add_new(NUMERIC_VALUE, "DS", value)
    return content_item("NUM", concept, relationship, MeasuredValueSequence=[measured])


def sr_container(
    concept: Code | None, children: Iterable[Dataset], relationship: str | None = "CONTAINS"
) -> Dataset:
    return content_item(
        "CONTAINER", concept, relationship, ContinuityOfContent="SEPARATE", ContentSequence=list(children)
    )


def sr_code(concept: Code, value: Code, relationship: str | None = "CONTAINS") -> Dataset:
    return content_item("CODE", concept, relationship, ConceptCodeSequence=[code_item(*value)])


def sr_text(concept: Code, text: str, relationship: str | None = "CONTAINS") -> Dataset:
    return content_item("TEXT", concept, relationship, TextValue=text)


def sr_uidref(concept: Code, uid: str, relationship: str | None = "CONTAINS") -> Dataset:
    return content_item("UIDREF", concept, relationship, UID=uid)


# -- shaped datasets ---------------------------------------------------------------------------------
def instance(
    sop_class: str,
    modality: str,
    *,
    sop_uid: str | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    **values: Any,
) -> Dataset:
    """SOP class, the three UIDs (generated unless given), modality, then ``values`` (``None``: absent)."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    for keyword, value in values.items():
        if value is not None:
            setattr(ds, keyword, value)
        elif keyword in ds:
            delattr(ds, keyword)
    return ds


def ct_image(**values: Any) -> Dataset:
    return instance(CT_IMAGE, "CT", **values)


def mg_image(**values: Any) -> Dataset:
    return instance(MG_IMAGE, "MG", **values)


def dose_sr(**values: Any) -> Dataset:
    """An X-Ray Radiation Dose SR header (give the content tree as ``ContentSequence``)."""
    return instance(XRAY_DOSE_SR, "SR", **values)


# -- presets -----------------------------------------------------------------------------------------
def pixel_ct(
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: str | None = "20261109",
    instance_number: int = 1,
    rows: int = 16,
) -> Dataset:
    """A synthetic CT with ``rows`` x ``rows`` ramp pixels (``study_date=None``: no study or series date)."""
    ds = ct_image(
        sop_uid=sop_uid,
        study_uid=study_uid,
        series_uid=series_uid,
        StudyDate=study_date,
        SeriesDate=study_date,
        PatientName="SYNTHETIC^PATIENT",
        PatientID="SYN0001",
        InstanceNumber=instance_number,
        **pixel_module(rows, bits_stored=12, pixel_data=ramp_pixels(rows, start=instance_number)),
    )
    return with_file_meta(ds)


PIXEL_CT_UID_ROOT = "1.2.826.0.1.3680043.10.1234."


def write_ct_studies(
    folder: Path,
    *,
    studies: int,
    instances_per_study: int,
    study_date: str | None = "20261109",
    rows: int = 16,
) -> list[Path]:
    """``studies`` x ``instances_per_study`` :func:`pixel_ct` files, one series per study, as
    ``folder/s<study>_i<instance>.dcm``; returns the paths in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for s in range(studies):
        study_uid, series_uid = generate_uid(PIXEL_CT_UID_ROOT), generate_uid(PIXEL_CT_UID_ROOT)
        for i in range(instances_per_study):
            ds = pixel_ct(
                study_uid=study_uid,
                series_uid=series_uid,
                sop_uid=generate_uid(PIXEL_CT_UID_ROOT),
                study_date=study_date,
                instance_number=i + 1,
                rows=rows,
            )
            paths.append(write_file(ds, folder / f"s{s:03d}_i{i:04d}.dcm"))
    return paths


# -- a study of series on disk -----------------------------------------------------------------------
STUDY_UID_ROOT = "1.2.826.0.1.3680043.10.999"


@dataclass
class BuiltStudy:
    study_uid: str
    study_date: str
    # series UID -> SOP UIDs (InstanceNumber order)
    series: dict[str, list[str]] = field(default_factory=dict)
    dose_series: list[str] = field(default_factory=list)
    other_sr_series: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def sop_uids(self) -> list[str]:
        return [uid for uids in self.series.values() for uid in uids]


def write_study(
    folder: Path,
    *,
    key: int,
    study_date: str = "20261109",
    image_series: int = 2,
    images_per_series: int = 4,
    with_rdsr: bool = True,
    with_other_sr: bool = False,
    modality: str = "CT",
    description: str = "CT CHEST",
    station: str = "CTSCANNER1",
    accession: str | None = None,
    patient_id: str | None = None,
) -> BuiltStudy:
    """One study as ``folder/<study>/<series>/<n>.dcm``: image series of 8x8 CT-class images, then an
    RDSR header series and a Comprehensive SR series if asked. UIDs follow from ``key`` and counters."""
    study_uid = f"{STUDY_UID_ROOT}.{key}"
    built = BuiltStudy(study_uid=study_uid, study_date=study_date)

    def write(sop_class: str, series_no: int, series_modality: str, n: int, **values: Any) -> str:
        series_uid = f"{study_uid}.{series_no}"
        ds = instance(
            sop_class,
            series_modality,
            sop_uid=f"{series_uid}.{n}",
            study_uid=study_uid,
            series_uid=series_uid,
            PatientName=f"Synthetic^Patient{key}",
            PatientID=patient_id or f"PID{key:05d}",
            StudyDate=study_date,
            StudyTime="101500",
            AccessionNumber=accession or f"ACC{key:05d}",
            StudyDescription=description,
            StudyID=str(key),
            SeriesNumber=series_no,
            StationName=station,
            Manufacturer="SYNTHETIC",
            InstanceNumber=n,
            **values,
        )
        built.files.append(write_file(ds, folder / study_uid / series_uid / f"{n}.dcm"))
        built.series.setdefault(series_uid, []).append(ds.SOPInstanceUID)
        return series_uid

    for s in range(1, image_series + 1):
        built.series[f"{study_uid}.{s}"] = []
        for n in range(1, images_per_series + 1):
            image = {"SeriesDescription": f"AXIAL {s}", "ImagePositionPatient": [0, 0, -5.0 * n]}
            write(CT_IMAGE, s, modality, n, **image, **pixel_module(8))
    extra = image_series + 1
    if with_rdsr:
        built.dose_series.append(write(XRAY_DOSE_SR, extra, "SR", 1, SeriesDescription="Dose Report"))
        extra += 1
    if with_other_sr:
        built.other_sr_series.append(
            write(COMPREHENSIVE_SR, extra, "SR", 1, SeriesDescription="Radiologist report")
        )
    return built
