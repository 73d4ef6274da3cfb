"""CT Image Storage instances whose dose attributes agree with the study's dose report.

Each image = study part (shared) + ``ct_series_part`` (shared by the series) + ``ct_instance_part``.
"""

from __future__ import annotations

import datetime as dt

from resources.corpus.dicom_modules import (
    CT_IMAGE_STORAGE,
    code_sequence,
    dicom_date,
    dicom_datetime,
    dicom_time,
)
from resources.corpus.draft import DraftDataset
from resources.corpus.plan import EventPlan, StudyPlan

MATRIX = 16
# 16 x 16 uint16 values 0..4095 in a fixed pattern: tiny, deterministic, within Bits Stored.
TINY_PIXELS = b"".join(
    ((row * MATRIX + col) * 16).to_bytes(2, "little") for row in range(MATRIX) for col in range(MATRIX)
)
PHANTOM_CODES = {
    "head": ("113690", "DCM", "IEC Head Dosimetry Phantom"),
    "body": ("113691", "DCM", "IEC Body Dosimetry Phantom"),
}


def image_acquisition_time(event: EventPlan, instance_index: int) -> dt.datetime:
    """Mid-slice time of image ``instance_index`` (0-based): always inside the event's window."""
    fraction = (instance_index + 0.5) / event.n_images
    return event.start + dt.timedelta(milliseconds=round(event.exposure_time_s * 1000 * fraction))


def slice_z(event: EventPlan, instance_index: int) -> float:
    """Table position of image ``instance_index``: head first, towards the feet by one thickness a slice."""
    return round(event.first_z_mm - instance_index * event.slice_thickness_mm, 3)


def image_comment(plan: StudyPlan) -> str:
    patient = plan.patient
    return f"Pt {patient.plain_name} DOB {patient.birth_date.strftime('%d/%m/%Y')} tel {patient.phone}"


def ct_series_part(plan: StudyPlan, event: EventPlan, header_only: bool, plant_phi: bool) -> DraftDataset:
    """Everything the images of ``event``'s series share (General Series, Frame of Reference, CT Image,
    Image Plane orientation, Image Pixel)."""
    ds = DraftDataset()
    localizer = event.kind == "localizer"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SeriesDate = dicom_date(event.start.date())
    ds.SeriesTime = dicom_time(event.start)
    ds.Modality = "CT"
    if localizer:
        ds.SeriesDescription = (
            f"{event.acquisition_protocol} for {plan.patient.plain_name}"
            if plant_phi
            else event.acquisition_protocol
        )
    else:
        ds.SeriesDescription = f"{event.acquisition_protocol} {event.slice_thickness_mm:g}mm"
    ds.IrradiationEventUID = event.irradiation_event_uid
    ds.BodyPartExamined = plan.body_part_written
    ds.SliceThickness = f"{event.slice_thickness_mm:g}"
    ds.KVP = str(event.kvp)
    ds.DataCollectionDiameter = "500"
    ds.ProtocolName = plan.protocol_raw
    ds.ReconstructionDiameter = "350"
    ds.DistanceSourceToDetector = "949.075"
    ds.DistanceSourceToPatient = "541"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "160"
    ds.RotationDirection = "CW"
    per_image_ms = max(1, round(event.exposure_time_s * 1000 / event.n_images))
    ds.ExposureTime = str(per_image_ms)
    ds.XRayTubeCurrent = str(event.tube_current_ma)
    ds.Exposure = str(max(1, round(event.tube_current_ma * per_image_ms / 1000)))
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "HFS"
    ds.SingleCollimationWidth = event.single_collimation_mm
    ds.TotalCollimationWidth = event.total_collimation_mm
    if event.pitch is not None:
        ds.SpiralPitchFactor = event.pitch
    if event.has_dose_container and event.ctdivol_mgy is not None and event.phantom is not None:
        ds.CTDIvol = event.ctdivol_mgy
        ds.CTDIPhantomTypeCodeSequence = code_sequence(*PHANTOM_CODES[event.phantom])
    ds.SeriesInstanceUID = event.series_uid
    ds.SeriesNumber = str(event.series_number)
    ds.AcquisitionNumber = str(event.number)
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = plan.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = MATRIX
    ds.Columns = MATRIX
    ds.PixelSpacing = ["21.875", "21.875"]  # a 350 mm field of view on the 16 x 16 matrix
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    if not localizer:  # a localiser's pixel values are not Hounsfield units
        ds.RescaleType = "HU"
    if not header_only:
        ds.add_new(0x7FE00010, "OW", TINY_PIXELS)
    return ds


def ct_instance_part(plan: StudyPlan, event: EventPlan, instance_index: int, plant_phi: bool) -> DraftDataset:
    """What differs from image to image: UID, number, times, table position (and one comment)."""
    ds = DraftDataset()
    acquired = image_acquisition_time(event, instance_index)
    ds.SOPInstanceUID = plan.sop_uid(event.series_number, instance_index + 1)
    ds.AcquisitionDate = dicom_date(acquired.date())
    ds.ContentDate = dicom_date(acquired.date())
    ds.AcquisitionDateTime = dicom_datetime(acquired)
    ds.AcquisitionTime = dicom_time(acquired)
    ds.ContentTime = dicom_time(acquired)
    ds.InstanceNumber = str(instance_index + 1)
    z = slice_z(event, instance_index)
    ds.ImagePositionPatient = ["-175", "-175", f"{z:g}"]
    ds.SliceLocation = f"{z:g}"
    if plant_phi and instance_index == 0 and event.kind != "localizer":
        ds.ImageComments = image_comment(plan)
    return ds
