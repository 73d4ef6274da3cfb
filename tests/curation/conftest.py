"""Fixtures of the curation tests, and header-only datasets shaped like de-identified CT, MG and dose SR
instances (a Siemens CT, a Hologic MG) built with the shared builder."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicom_builder import content_item, ct_image, dose_sr, mg_image, sr_code
from tests.warehouse.backends import make_warehouse

__all__ = ["make_dataset", "make_dose_sr", "make_warehouse"]

DEVICE_AND_PATIENT: dict[str, Any] = {
    "PatientID": "PSEUDO-0001",
    "PatientSex": "F",
    "PatientAge": "054Y",
    "StudyDate": "20261110",
    "StudyTime": "093000",
    "Manufacturer": "SIEMENS",
    "ManufacturerModelName": "SOMATOM Definition AS+",
    "StationName": "CT 2",
    "InstitutionName": "ST. ELSEWHERE HOSP",
    "DeviceSerialNumber": "73951",
    "SoftwareVersions": "syngo CT VA48A",
    "SeriesNumber": 2,
    "InstanceNumber": 1,
}
SIEMENS_CT: dict[str, Any] = {
    "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
    "StudyDescription": "CT CHEST",
    "ProtocolName": "Thorax routine",
    "BodyPartExamined": "CHEST",
    "KVP": 120,
    "CTDIvol": 6.5,
    "XRayTubeCurrent": 180,
    "ExposureTime": 500,
    "Exposure": 90,
    "SliceThickness": 1.0,
    "SliceLocation": -120.5,
    "AcquisitionDate": "20261110",
    "AcquisitionTime": "093512",
}
HOLOGIC_MG: dict[str, Any] = {
    "Manufacturer": "HOLOGIC, Inc.",
    "ManufacturerModelName": "Selenia Dimensions",
    "StationName": "Mammo 1",
    "DeviceSerialNumber": "SDM0712345",
    "StudyDescription": "MAMMO SCREENING",
    "BodyPartExamined": "BREAST",
    "KVP": 29,
    "Exposure": 120,
    "OrganDose": 0.142,  # dGy
    "BodyPartThickness": 52,
    "CompressionForce": 110,
    "AnodeTargetMaterial": "TUNGSTEN",
    "FilterMaterial": "RHODIUM",
    "ViewPosition": "CC",
    "ImageLaterality": "L",
}


def make_dataset(modality: str = "CT", **values: Any) -> Dataset:
    """A ``modality`` (CT, MG or SR) header with random UIDs; ``values`` override (``None``: absent)."""
    uids = {
        "study_uid": values.pop("StudyInstanceUID", None),
        "series_uid": values.pop("SeriesInstanceUID", None),
    }
    if modality == "CT":
        event = {"IrradiationEventUID": generate_uid()}
        return ct_image(**uids, **{**DEVICE_AND_PATIENT, **SIEMENS_CT, **event, **values})
    if modality == "MG":
        return mg_image(**uids, **{**DEVICE_AND_PATIENT, **HOLOGIC_MG, **values})
    return dose_sr(**uids, **{**DEVICE_AND_PATIENT, **values})


def make_dose_sr(study_uid: str, target: tuple[str, str]) -> Dataset:
    """A dose SR whose one container holds a Target Region of code ``target`` (value, scheme)."""
    region = sr_code(("123014", "DCM", "Target Region"), (*target, "region"), relationship=None)
    container = content_item("CONTAINER", None, None, ContentSequence=[region])
    return make_dataset("SR", StudyInstanceUID=study_uid, ContentSequence=[container])
