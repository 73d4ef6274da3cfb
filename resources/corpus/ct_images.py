"""CT Image Storage instances whose dose attributes agree with the study's dose report.

Each image = study part (shared) + ``ct_series_part`` (shared by the series) + ``ct_instance_part``.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

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
# 16 x 16 uint16 values 0..4095 in a fixed pattern: tiny, deterministic, within Bits Stored (the
# localisers' pixels: a projection, not Hounsfield units).
TINY_PIXELS = b"".join(
    ((row * MATRIX + col) * 16).to_bytes(2, "little") for row in range(MATRIX) for col in range(MATRIX)
)
# Axial images show the patient as a water ellipse in air, so that the water-equivalent diameter (and
# with it SSDE, AAPM Report 220) can be measured on the demo's own images.
PHANTOM_MATRIX = 64
HEAD_REGIONS = frozenset({"head", "sinus"})
NECK_REGIONS = frozenset({"cervical_spine"})  # a neck: about three quarters of the head's width
HEAD_FOV_MM, BODY_FOV_MM = 250.0, 500.0
# An adult of 70 kg and 1.75 m has a trunk effective diameter of about 28 cm (AAPM Report 204's adult
# range is 25-35 cm); the cross-section is scaled with weight over height, the ellipse 1.35 times as
# wide as it is deep, a head a circle of about 16 cm (12 cm for a baby), a neck three quarters of that.
REFERENCE_TRUNK_MM, REFERENCE_WEIGHT_PER_HEIGHT = 280.0, 70.0 / 1.75
LATERAL_OVER_AP = 1.35
RESCALE_INTERCEPT = -1024  # stored value = HU + 1024: water 1024, air 0


def patient_outline_mm(plan: StudyPlan) -> tuple[float, float]:
    """(lateral, AP) width of the patient in the axial images, in mm."""
    patient = plan.patient
    if plan.protocol.region in HEAD_REGIONS | NECK_REGIONS:
        diameter = 120.0 + 40.0 * min(1.0, (patient.size_m - 0.5) / 1.2) if patient.size_m > 0.5 else 120.0
        if plan.protocol.region in NECK_REGIONS:
            diameter *= 0.75
        return diameter, diameter * 0.95
    weight_per_height = max(patient.weight_kg, 2.0) / max(patient.size_m, 0.4)
    effective = REFERENCE_TRUNK_MM * math.sqrt(weight_per_height / REFERENCE_WEIGHT_PER_HEIGHT)
    effective = min(max(effective, 90.0), 420.0)  # inside the 500 mm field of view, with air around
    return effective * math.sqrt(LATERAL_OVER_AP), effective / math.sqrt(LATERAL_OVER_AP)


def field_of_view_mm(plan: StudyPlan) -> float:
    return HEAD_FOV_MM if plan.protocol.region in HEAD_REGIONS | NECK_REGIONS else BODY_FOV_MM


def phantom_pixels(plan: StudyPlan) -> bytes:
    """The axial image: a water ellipse of the patient's outline in air, stored as HU + 1024."""
    lateral, ap = patient_outline_mm(plan)
    spacing = field_of_view_mm(plan) / PHANTOM_MATRIX
    centre = (PHANTOM_MATRIX - 1) / 2.0
    offsets = (np.arange(PHANTOM_MATRIX) - centre) * spacing
    x, y = np.meshgrid(offsets, offsets)
    inside = (x / (lateral / 2.0)) ** 2 + (y / (ap / 2.0)) ** 2 <= 1.0
    hu = np.where(inside, 0, -1000).astype(np.int32)
    return (hu - RESCALE_INTERCEPT).astype("<u2").tobytes()


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
    ds.ReconstructionDiameter = "350" if localizer else f"{field_of_view_mm(plan):g}"
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
    matrix = MATRIX if localizer else PHANTOM_MATRIX
    field_of_view = 350.0 if localizer else field_of_view_mm(plan)
    ds.Rows = matrix
    ds.Columns = matrix
    ds.PixelSpacing = [f"{field_of_view / matrix:g}"] * 2
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
        ds.add_new(0x7FE00010, "OW", TINY_PIXELS if localizer else phantom_pixels(plan))
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
    corner = -(175.0 if event.kind == "localizer" else field_of_view_mm(plan) / 2.0)
    ds.ImagePositionPatient = [f"{corner:g}", f"{corner:g}", f"{z:g}"]
    ds.SliceLocation = f"{z:g}"
    if plant_phi and instance_index == 0 and event.kind != "localizer":
        ds.ImageComments = image_comment(plan)
    return ds
