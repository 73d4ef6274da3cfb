"""Fixtures of the dose tests: a generated site (corpus with known answers), and the dose room's own
datasets (a TID 10013 CT acquisition, a CT Radiation Dose SR, a CT image header) built with the shared
builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydicom.dataset import Dataset

from tests import dicom_builder as build
from tests.dicom_builder import Code, code_item, sr_code, sr_container, sr_num, sr_text, sr_uidref

if TYPE_CHECKING:
    from resources.corpus import CorpusManifest


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


def ct_event(
    uid: str,
    *,
    protocol: str = "Chest",
    ctdivol: str | None = "10.0",
    dlp: str | None = "300.0",
    dlp_unit: str = "mGy.cm",
    acquisition_type: Code = ("116152004", "SCT", "Spiral Acquisition"),
    region: Code = ("43799004", "SCT", "Chest"),
    length: str = "300",
    phantom: Code = ("113691", "DCM", "IEC Body Dosimetry Phantom"),
) -> Dataset:
    """A CT Acquisition container (TID 10013); ``ctdivol=None`` leaves out the CT Dose container."""
    parameters = sr_container(
        ("113822", "DCM", "CT Acquisition Parameters"),
        [
            sr_num(("113824", "DCM", "Exposure Time"), "5.0", "s"),
            sr_num(("113825", "DCM", "Scanning Length"), length, "mm"),
            sr_container(
                ("113831", "DCM", "CT X-Ray Source Parameters"),
                [
                    sr_text(("113832", "DCM", "Identification of the X-Ray Source"), "A"),
                    sr_num(("113733", "DCM", "KVP"), "120", "kV"),
                    sr_num(("113734", "DCM", "X-Ray Tube Current"), "200", "mA"),
                ],
            ),
        ],
    )
    children = [
        sr_text(("125203", "DCM", "Acquisition Protocol"), protocol),
        sr_code(("123014", "DCM", "Target Region"), region),
        sr_code(("113820", "DCM", "CT Acquisition Type"), acquisition_type),
        sr_uidref(("113769", "DCM", "Irradiation Event UID"), uid),
        parameters,
    ]
    if ctdivol is not None:
        dose_items = [
            sr_num(("113830", "DCM", "Mean CTDIvol"), ctdivol, "mGy"),
            sr_code(("113835", "DCM", "CTDIw Phantom Type"), phantom),
        ]
        if dlp is not None:
            dose_items.append(sr_num(("113838", "DCM", "DLP"), dlp, dlp_unit))
        children.append(sr_container(("113829", "DCM", "CT Dose"), dose_items))
    return sr_container(("113819", "DCM", "CT Acquisition"), children)


def rdsr_dataset(
    events: Sequence[Dataset],
    *,
    total_dlp: str | None = None,
    study_uid: str | None = None,
    sop_uid: str | None = None,
    charset: str = "ISO_IR 100",
    patient_age: str = "045Y",
) -> Dataset:
    """An X-Ray Radiation Dose SR (with file meta) of ``events``; the accumulated DLP is their sum unless
    ``total_dlp`` is given."""
    dlps = [
        float(item.MeasuredValueSequence[0].NumericValue)
        for event in events
        for child in event.ContentSequence
        if child.ConceptNameCodeSequence[0].CodeValue == "113829"
        for item in child.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "113838"
    ]
    total = total_dlp or f"{sum(dlps):.2f}"
    accumulated = sr_container(
        ("113811", "DCM", "CT Accumulated Dose Data"),
        [
            sr_num(("113812", "DCM", "Total Number of Irradiation Events"), str(len(events)), "{events}"),
            sr_num(("113813", "DCM", "CT Dose Length Product Total"), total, "mGy.cm"),
        ],
    )
    ds = build.dose_sr(
        sop_uid=sop_uid,
        study_uid=study_uid,
        SpecificCharacterSet=charset,
        StudyDate="20260105",
        PatientID="PSEUDO1",
        PatientAge=patient_age,
        Manufacturer="ACME",
        ValueType="CONTAINER",
        ContinuityOfContent="SEPARATE",
        ConceptNameCodeSequence=[code_item("113701", "DCM", "X-Ray Radiation Dose Report")],
        ContentSequence=[
            sr_code(
                ("121058", "DCM", "Procedure reported"),
                ("77477000", "SCT", "Computed Tomography X-Ray"),
                "HAS CONCEPT MOD",
            ),
            sr_uidref(("121012", "DCM", "Device Observer UID"), "1.2.3.4.5", "HAS OBS CONTEXT"),
            accumulated,
            *events,
        ],
    )
    return build.with_file_meta(ds)


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
    """A CT image header (with file meta) as the dose estimate reads it."""
    ds = build.ct_image(
        study_uid=study_uid,
        series_uid=series_uid,
        ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "AXIAL"],
        PatientID="PSEUDO1",
        PatientAge=age,
        StudyDate=acquired.strftime("%Y%m%d"),
        AcquisitionDate=acquired.strftime("%Y%m%d"),
        AcquisitionTime=acquired.strftime("%H%M%S"),
        ProtocolName=protocol,
        BodyPartExamined=body_part,
        Manufacturer="ACME",
        ImagePositionPatient=[0.0, 0.0, z],
        SliceThickness=thickness,
        CTDIvol=ctdivol,
        IrradiationEventUID=event_uid,
    )
    return build.with_file_meta(ds)
