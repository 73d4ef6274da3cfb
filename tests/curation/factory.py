"""Small header-only datasets shaped like de-identified CT, MG and dose SR instances (built with pydicom)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MG_IMAGE = "1.2.840.10008.5.1.4.1.1.1.2"
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"


def make_dataset(modality: str = "CT", **values: Any) -> Dataset:
    ds = Dataset()
    sop_class = {"CT": CT_IMAGE, "MG": MG_IMAGE, "SR": XRAY_DOSE_SR}[modality]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = values.pop("StudyInstanceUID", None) or generate_uid()
    ds.SeriesInstanceUID = values.pop("SeriesInstanceUID", None) or generate_uid()
    ds.Modality = modality
    ds.PatientID = "PSEUDO-0001"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyDate = "20261110"
    ds.StudyTime = "093000"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "SOMATOM Definition AS+"
    ds.StationName = "CT 2"
    ds.InstitutionName = "ST. ELSEWHERE HOSP"
    ds.DeviceSerialNumber = "73951"
    ds.SoftwareVersions = "syngo CT VA48A"
    ds.SeriesNumber = 2
    ds.InstanceNumber = 1
    if modality == "CT":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyDescription = "CT CHEST"
        ds.ProtocolName = "Thorax routine"
        ds.BodyPartExamined = "CHEST"
        ds.KVP = 120
        ds.CTDIvol = 6.5
        ds.XRayTubeCurrent = 180
        ds.ExposureTime = 500
        ds.Exposure = 90
        ds.SliceThickness = 1.0
        ds.SliceLocation = -120.5
        ds.AcquisitionDate = "20261110"
        ds.AcquisitionTime = "093512"
        ds.IrradiationEventUID = generate_uid()
    elif modality == "MG":
        ds.Manufacturer = "HOLOGIC, Inc."
        ds.ManufacturerModelName = "Selenia Dimensions"
        ds.StationName = "Mammo 1"
        ds.DeviceSerialNumber = "SDM0712345"
        ds.StudyDescription = "MAMMO SCREENING"
        ds.BodyPartExamined = "BREAST"
        ds.KVP = 29
        ds.Exposure = 120
        ds.OrganDose = 0.142  # dGy
        ds.BodyPartThickness = 52
        ds.CompressionForce = 110
        ds.AnodeTargetMaterial = "TUNGSTEN"
        ds.FilterMaterial = "RHODIUM"
        ds.ViewPosition = "CC"
        ds.ImageLaterality = "L"
    for keyword, value in values.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def target_region_item(code: str, scheme: str) -> Dataset:
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "123014", "DCM", "Target Region"
    value = Dataset()
    value.CodeValue, value.CodingSchemeDesignator, value.CodeMeaning = code, scheme, "region"
    item = Dataset()
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.ConceptCodeSequence = Sequence([value])
    return item


def make_dose_sr(study_uid: str, target: tuple[str, str]) -> Dataset:
    ds = make_dataset("SR", StudyInstanceUID=study_uid)
    container = Dataset()
    container.ValueType = "CONTAINER"
    container.ContentSequence = Sequence([target_region_item(*target)])
    ds.ContentSequence = Sequence([container])
    return ds


def write(ds: Dataset, folder: Path) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
