"""Small datasets built in the tests (the corpus generator covers the realistic mix)."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def ct_dataset(
    patient_id: str = "MRN4455667", study_date: str = "20261110", study_uid: str = "1.2.3.4.100"
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = study_uid + ".1.1"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = study_uid + ".1.1"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = study_uid + ".1"
    ds.FrameOfReferenceUID = study_uid + ".9"
    ds.IrradiationEventUID = study_uid + ".7"
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = "101500"
    ds.AcquisitionTime = "101623.5"
    ds.AcquisitionDateTime = study_date + "101623.5"
    ds.AccessionNumber = "ACC7788990"
    ds.Modality = "CT"
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.ManufacturerModelName = "Revolution CT"
    ds.StationName = "CTSTATION1"
    ds.DeviceSerialNumber = "SN-0042-XY"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.ReferringPhysicianName = "Kildare^James"
    ds.OperatorsName = ["Ratched^Mildred", "Jones^Alun"]
    ds.StudyDescription = "CT HEAD for Eleanor Rigby"
    ds.SeriesDescription = "Axial 5mm"
    ds.ProtocolName = "HEAD ROUTINE Rigby"
    ds.BodyPartExamined = "HEAD"
    ds.PatientName = "Rigby^Eleanor^Mary"
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = "TESTVILLE PAS"
    ds.PatientBirthDate = "19540312"
    ds.PatientSex = "F"
    ds.PatientAge = "072Y"
    ds.PatientSize = "1.62"
    ds.PatientWeight = "58"
    ds.MilitaryRank = "Sergeant"
    ds.PatientAddress = "12 Penny Lane^Liverpool"
    ds.PatientTelephoneNumbers = "0151 496 0123"
    ds.KVP = "120"
    ds.XRayTubeCurrent = 250
    ds.ExposureTime = 1000
    ds.Exposure = 250
    ds.CTDIvol = 42.5
    ds.SliceThickness = "5"
    ds.ImagePositionPatient = [-250, -250, 12.5]
    ds.ImageComments = "Pt Rigby called 0151 496 0123 on 12/03/1954"
    return ds


def nest(depth: int, leaf: Dataset) -> Sequence:
    """``depth`` levels of Referenced Image Sequence (X/Z/U*: kept, UIDs replaced) around ``leaf``."""
    inner = Sequence([leaf])
    for _ in range(depth - 1):
        item = Dataset()
        item.ReferencedSOPClassUID = CT_IMAGE
        item.ReferencedSOPInstanceUID = "1.2.3.4.100.1.1"
        item.ReferencedImageSequence = inner
        inner = Sequence([item])
    return inner
