"""Small synthetic studies built with pydicom for the retrieval tests (no real patient data).

CT image series (tiny 8x8 pixels) and a minimal X-Ray Radiation Dose SR header (RDSR SOP class, no
content tree: retrieval only looks at classes and UIDs). Deterministic UIDs from a prefix and counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
UID_ROOT = "1.2.826.0.1.3680043.10.999"


@dataclass
class BuiltStudy:
    study_uid: str
    study_date: str
    series: dict[str, list[str]] = field(
        default_factory=dict
    )  # series UID -> SOP UIDs (InstanceNumber order)
    dose_series: list[str] = field(default_factory=list)
    other_sr_series: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def sop_uids(self) -> list[str]:
        return [uid for uids in self.series.values() for uid in uids]


def _write(ds: Dataset, sop_class: str, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def build_study(
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
    """Write one study under ``folder`` and return its UIDs."""
    study_uid = f"{UID_ROOT}.{key}"
    built = BuiltStudy(study_uid=study_uid, study_date=study_date)

    def base(series_no: int, series_modality: str) -> Dataset:
        ds = Dataset()
        ds.PatientName = f"Synthetic^Patient{key}"
        ds.PatientID = patient_id or f"PID{key:05d}"
        ds.StudyInstanceUID = study_uid
        ds.StudyDate = study_date
        ds.StudyTime = "101500"
        ds.AccessionNumber = accession or f"ACC{key:05d}"
        ds.StudyDescription = description
        ds.StudyID = str(key)
        ds.SeriesInstanceUID = f"{study_uid}.{series_no}"
        ds.SeriesNumber = series_no
        ds.Modality = series_modality
        ds.StationName = station
        ds.Manufacturer = "SYNTHETIC"
        return ds

    for s in range(1, image_series + 1):
        series_uid = f"{study_uid}.{s}"
        uids = []
        for n in range(1, images_per_series + 1):
            ds = base(s, modality)
            ds.SeriesDescription = f"AXIAL {s}"
            ds.SOPInstanceUID = f"{series_uid}.{n}"
            ds.InstanceNumber = n
            ds.ImagePositionPatient = [0, 0, -5.0 * n]
            ds.Rows = ds.Columns = 8
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.PixelData = bytes(128)
            path = folder / study_uid / series_uid / f"{n}.dcm"
            _write(ds, CT_IMAGE, path)
            built.files.append(path)
            uids.append(ds.SOPInstanceUID)
        built.series[series_uid] = uids
    extra = image_series + 1
    if with_rdsr:
        series_uid = f"{study_uid}.{extra}"
        ds = base(extra, "SR")
        ds.SeriesDescription = "Dose Report"
        ds.SOPInstanceUID = f"{series_uid}.1"
        ds.InstanceNumber = 1
        path = folder / study_uid / series_uid / "1.dcm"
        _write(ds, RDSR, path)
        built.files.append(path)
        built.series[series_uid] = [ds.SOPInstanceUID]
        built.dose_series.append(series_uid)
        extra += 1
    if with_other_sr:
        series_uid = f"{study_uid}.{extra}"
        ds = base(extra, "SR")
        ds.SeriesDescription = "Radiologist report"
        ds.SOPInstanceUID = f"{series_uid}.1"
        ds.InstanceNumber = 1
        path = folder / study_uid / series_uid / "1.dcm"
        _write(ds, COMPREHENSIVE_SR, path)
        built.files.append(path)
        built.series[series_uid] = [ds.SOPInstanceUID]
        built.other_sr_series.append(series_uid)
    return built
