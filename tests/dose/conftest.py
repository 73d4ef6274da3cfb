"""Fixtures of the dose tests: a generated site (corpus with known answers) and small built datasets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

if TYPE_CHECKING:
    from resources.corpus import CorpusManifest

RDSR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
CT_IMAGE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="session")
def generated_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    """A small generated site (header-only files) and its manifest of true doses."""
    try:
        from resources.corpus import CorpusSpec, generate_corpus
    except ImportError as exc:  # the generator is another package: say so rather than error the module
        pytest.fail(f"resources.corpus is not importable: {exc}")
    folder = tmp_path_factory.mktemp("dose_site")
    manifest = generate_corpus(
        folder,
        CorpusSpec(
            seed=11, n_studies=48, header_only=True, plant_phi=False, ct_images_per_series=4, mg_fraction=0.1
        ),
    )
    return folder, manifest


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def content(
    value_type: str, concept: tuple[str, str, str], relationship: str = "CONTAINS", **values: Any
) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [code_item(*concept)]
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def num(concept: tuple[str, str, str], value: str, unit: str) -> Dataset:
    measured = Dataset()
    measured.MeasurementUnitsCodeSequence = [code_item(unit, "UCUM", unit)]
    if _valid_ds(value):
        measured.add_new(0x0040A30A, "DS", value)
    else:  # an invalid DS as vendors write it: stored raw so that pydicom does not refuse to build it
        raw = value.encode() + (b" " if len(value) % 2 else b"")
        measured[0x0040A30A] = RawDataElement(BaseTag(0x0040A30A), "DS", len(raw), raw, 0, False, True)
    return content("NUM", concept, MeasuredValueSequence=[measured])


def _valid_ds(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def container(
    concept: tuple[str, str, str], children: Sequence[Dataset], relationship: str = "CONTAINS"
) -> Dataset:
    return content(
        "CONTAINER", concept, relationship, ContinuityOfContent="SEPARATE", ContentSequence=list(children)
    )


def ct_event(
    uid: str,
    *,
    protocol: str = "Chest",
    ctdivol: str | None = "10.0",
    dlp: str | None = "300.0",
    dlp_unit: str = "mGy.cm",
    acquisition_type: tuple[str, str, str] = ("116152004", "SCT", "Spiral Acquisition"),
    region: tuple[str, str, str] = ("43799004", "SCT", "Chest"),
    length: str = "300",
    phantom: tuple[str, str, str] = ("113691", "DCM", "IEC Body Dosimetry Phantom"),
) -> Dataset:
    parameters = container(
        ("113822", "DCM", "CT Acquisition Parameters"),
        [
            num(("113824", "DCM", "Exposure Time"), "5.0", "s"),
            num(("113825", "DCM", "Scanning Length"), length, "mm"),
            container(
                ("113831", "DCM", "CT X-Ray Source Parameters"),
                [
                    content("TEXT", ("113832", "DCM", "Identification of the X-Ray Source"), TextValue="A"),
                    num(("113733", "DCM", "KVP"), "120", "kV"),
                    num(("113734", "DCM", "X-Ray Tube Current"), "200", "mA"),
                ],
            ),
        ],
    )
    children = [
        content("TEXT", ("125203", "DCM", "Acquisition Protocol"), TextValue=protocol),
        content("CODE", ("123014", "DCM", "Target Region"), ConceptCodeSequence=[code_item(*region)]),
        content(
            "CODE",
            ("113820", "DCM", "CT Acquisition Type"),
            ConceptCodeSequence=[code_item(*acquisition_type)],
        ),
        content("UIDREF", ("113769", "DCM", "Irradiation Event UID"), UID=uid),
        parameters,
    ]
    if ctdivol is not None:
        dose_items = [
            num(("113830", "DCM", "Mean CTDIvol"), ctdivol, "mGy"),
            content(
                "CODE", ("113835", "DCM", "CTDIw Phantom Type"), ConceptCodeSequence=[code_item(*phantom)]
            ),
        ]
        if dlp is not None:
            dose_items.append(num(("113838", "DCM", "DLP"), dlp, dlp_unit))
        children.append(container(("113829", "DCM", "CT Dose"), dose_items))
    return container(("113819", "DCM", "CT Acquisition"), children)


def rdsr_dataset(
    events: Sequence[Dataset],
    *,
    total_dlp: str | None = None,
    study_uid: str | None = None,
    sop_uid: str | None = None,
    charset: str = "ISO_IR 100",
    patient_age: str = "045Y",
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = RDSR_SOP_CLASS
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = RDSR_SOP_CLASS
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.StudyDate = "20260105"
    ds.PatientID = "PSEUDO1"
    ds.PatientAge = patient_age
    ds.Manufacturer = "ACME"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = [code_item("113701", "DCM", "X-Ray Radiation Dose Report")]
    dlps = []
    for event in events:
        for child in event.ContentSequence:
            if child.ConceptNameCodeSequence[0].CodeValue == "113829":
                for item in child.ContentSequence:
                    if item.ConceptNameCodeSequence[0].CodeValue == "113838":
                        dlps.append(float(item.MeasuredValueSequence[0].NumericValue))
    accumulated = container(
        ("113811", "DCM", "CT Accumulated Dose Data"),
        [
            num(("113812", "DCM", "Total Number of Irradiation Events"), str(len(events)), "{events}"),
            num(("113813", "DCM", "CT Dose Length Product Total"), total_dlp or f"{sum(dlps):.2f}", "mGy.cm"),
        ],
    )
    ds.ContentSequence = [
        content(
            "CODE",
            ("121058", "DCM", "Procedure reported"),
            "HAS CONCEPT MOD",
            ConceptCodeSequence=[code_item("77477000", "SCT", "Computed Tomography X-Ray")],
        ),
        content("UIDREF", ("121012", "DCM", "Device Observer UID"), "HAS OBS CONTEXT", UID="1.2.3.4.5"),
        accumulated,
        *events,
    ]
    return ds


def ct_image(
    study_uid: str,
    series_uid: str,
    *,
    z: float,
    ctdivol: float | None = 10.0,
    event_uid: str | None = None,
    thickness: float = 5.0,
    acquired: dt.datetime = dt.datetime(2026, 1, 5, 10, 0, 0),
    protocol: str = "Chest",
    body_part: str = "CHEST",
    age: str = "045Y",
    localizer: bool = False,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_SOP_CLASS
    ds.SOPClassUID = CT_IMAGE_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "AXIAL"]
    ds.PatientID = "PSEUDO1"
    ds.PatientAge = age
    ds.StudyDate = acquired.strftime("%Y%m%d")
    ds.AcquisitionDate = acquired.strftime("%Y%m%d")
    ds.AcquisitionTime = acquired.strftime("%H%M%S")
    ds.ProtocolName = protocol
    ds.BodyPartExamined = body_part
    ds.Manufacturer = "ACME"
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.SliceThickness = thickness
    if ctdivol is not None:
        ds.CTDIvol = ctdivol
    if event_uid is not None:
        ds.IrradiationEventUID = event_uid
    return ds
