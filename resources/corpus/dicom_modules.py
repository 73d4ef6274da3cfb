"""Modules shared by every generated IOD: File Meta, SOP Common, Patient, General Study, Equipment."""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from resources.corpus.draft import DraftDataset
from resources.corpus.phi import PlantedValue, plant_study_level
from resources.corpus.plan import StudyPlan

IMPLEMENTATION_CLASS_UID = "2.25.126463297185720180290212938461329875921"
IMPLEMENTATION_VERSION_NAME = "DICOMLAKE_CORP1"

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MG_FOR_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"
XRAY_RADIATION_DOSE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.67"


def dicom_date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def dicom_time(value: dt.datetime) -> str:
    return value.strftime("%H%M%S") + f".{value.microsecond // 1000:03d}"


def dicom_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S") + f".{value.microsecond // 1000:03d}"


def file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    """File Meta Information for Explicit VR Little Endian."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def study_part(plan: StudyPlan, plant_phi: bool) -> tuple[DraftDataset, list[PlantedValue]]:
    """What every instance of the study shares: Patient, General Study, Patient Study, General
    Equipment (and the Type 1 fields of Enhanced General Equipment) and the planted identifiers."""
    ds = DraftDataset()
    p = plan.patient
    device = plan.device
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDate = dicom_date(plan.study_date)
    ds.StudyTime = dicom_time(plan.study_start)
    ds.AccessionNumber = plan.accession
    ds.Manufacturer = device.manufacturer
    ds.InstitutionName = device.institution_name
    ds.InstitutionAddress = device.institution_address  # also listed as planted PHI when planting
    ds.ReferringPhysicianName = plan.referring_physician if plant_phi else ""
    ds.StationName = device.station_name
    ds.StudyDescription = (
        f"{plan.study_description_raw} for {p.plain_name}"
        if plan.plants_name_in_study_description
        else plan.study_description_raw
    )
    ds.ManufacturerModelName = device.device.model
    ds.PatientName = p.dicom_name
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = dicom_date(p.birth_date)
    ds.PatientSex = p.sex
    if plan.patient_age is not None:
        ds.PatientAge = plan.patient_age
    ds.PatientSize = f"{p.size_m:.2f}"
    ds.PatientWeight = f"{p.weight_kg:.1f}"
    ds.DeviceSerialNumber = device.device.serial
    ds.SoftwareVersions = device.software_version
    ds.StudyInstanceUID = plan.study_uid
    ds.StudyID = plan.study_id
    planted = plant_study_level(ds, plan) if plant_phi else []
    return ds, planted


def code_item(value: str, scheme: str, meaning: str) -> DraftDataset:
    item = DraftDataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def code_sequence(value: str, scheme: str, meaning: str) -> list[DraftDataset]:
    return [code_item(value, scheme, meaning)]
