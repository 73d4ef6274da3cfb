"""Small synthetic DICOM files for the operations tests (pydicom-built, no real patient data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

UID_ROOT = "1.2.826.0.1.3680043.10.1234."


def make_ct_instance(
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: str | None = "20261109",
    instance_number: int = 1,
    rows: int = 16,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    if study_date is not None:
        ds.StudyDate = study_date
        ds.SeriesDate = study_date
    ds.Modality = "CT"
    ds.PatientName = "SYNTHETIC^PATIENT"
    ds.PatientID = "SYN0001"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance_number
    ds.Rows = rows
    ds.Columns = rows
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = (np.arange(rows * rows, dtype=np.uint16) + instance_number).tobytes()
    return ds


def write_study_files(
    folder: Path,
    *,
    studies: int,
    instances_per_study: int,
    study_date: str | None = "20261109",
    rows: int = 16,
) -> list[Path]:
    """Write ``studies`` x ``instances_per_study`` CT files (one series per study); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for s in range(studies):
        study_uid = generate_uid(UID_ROOT)
        series_uid = generate_uid(UID_ROOT)
        for i in range(instances_per_study):
            sop_uid = generate_uid(UID_ROOT)
            ds = make_ct_instance(
                study_uid=study_uid,
                series_uid=series_uid,
                sop_uid=sop_uid,
                study_date=study_date,
                instance_number=i + 1,
                rows=rows,
            )
            path = folder / f"s{s:03d}_i{i:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths
