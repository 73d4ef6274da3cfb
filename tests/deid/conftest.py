"""Fixtures for the de-identification tests: one engine per session (the PHI scanner is costly), and the
PHI-laden CT whose values the assertions check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from resources.deid.engine import Deidentifier, DeidResult
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import PhiScanner
from tests.dicom_builder import ct_image, with_file_meta

SECRET = b"test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def scanner() -> PhiScanner:
    return PhiScanner()


@pytest.fixture(scope="session")
def engine(scanner: PhiScanner) -> Deidentifier:
    return Deidentifier(DeidOptions(), SECRET, scanner=scanner)


@pytest.fixture(scope="session")
def deidentified(engine: Deidentifier) -> Callable[[Path], DeidResult]:
    """The session engine's result for a file, each file de-identified once per session: the tests over
    the openrem wheel's files (leak check, text items, structured content) ask about the same outputs,
    and de-identifying the wheel takes the engine about 20 s. Results are only read, never changed."""
    results: dict[Path, DeidResult] = {}

    def of(path: Path) -> DeidResult:
        if path not in results:
            results[path] = engine.deidentify_file(path)
        return results[path]

    return of


@pytest.fixture(scope="session")
def make_engine(scanner: PhiScanner):  # type: ignore[no-untyped-def]
    def build(**kwargs: object) -> Deidentifier:
        extra = {k: kwargs.pop(k) for k in list(kwargs) if k in {"opt_out_ids", "recipient_key", "vault"}}
        return Deidentifier(DeidOptions(**kwargs), SECRET, scanner=scanner, **extra)  # type: ignore[arg-type]

    return build


def phi_ct(
    patient_id: str = "MRN4455667", study_date: str = "20261110", study_uid: str = "1.2.3.4.100"
) -> Dataset:
    """A GE CT header with identifiers planted everywhere (the de-identification tests check each)."""
    ds = ct_image(
        sop_uid=study_uid + ".1.1",
        study_uid=study_uid,
        series_uid=study_uid + ".1",
        SpecificCharacterSet="ISO_IR 100",
        FrameOfReferenceUID=study_uid + ".9",
        IrradiationEventUID=study_uid + ".7",
        StudyDate=study_date,
        SeriesDate=study_date,
        AcquisitionDate=study_date,
        ContentDate=study_date,
        StudyTime="101500",
        AcquisitionTime="101623.5",
        AcquisitionDateTime=study_date + "101623.5",
        AccessionNumber="ACC7788990",
        Manufacturer="GE MEDICAL SYSTEMS",
        ManufacturerModelName="Revolution CT",
        StationName="CTSTATION1",
        DeviceSerialNumber="SN-0042-XY",
        InstitutionName="St Elsewhere Hospital",
        ReferringPhysicianName="Kildare^James",
        OperatorsName=["Ratched^Mildred", "Jones^Alun"],
        StudyDescription="CT HEAD for Eleanor Rigby",
        SeriesDescription="Axial 5mm",
        ProtocolName="HEAD ROUTINE Rigby",
        BodyPartExamined="HEAD",
        PatientName="Rigby^Eleanor^Mary",
        PatientID=patient_id,
        IssuerOfPatientID="TESTVILLE PAS",
        PatientBirthDate="19540312",
        PatientSex="F",
        PatientAge="072Y",
        PatientSize="1.62",
        PatientWeight="58",
        MilitaryRank="Sergeant",
        PatientAddress="12 Penny Lane^Liverpool",
        PatientTelephoneNumbers="0151 496 0123",
        KVP="120",
        XRayTubeCurrent=250,
        ExposureTime=1000,
        Exposure=250,
        CTDIvol=42.5,
        SliceThickness="5",
        ImagePositionPatient=[-250, -250, 12.5],
        ImageComments="Pt Rigby called 0151 496 0123 on 12/03/1954",
    )
    return with_file_meta(ds)
