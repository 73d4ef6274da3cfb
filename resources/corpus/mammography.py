"""Digital Mammography X-Ray Image Storage - For Presentation instances with their dose attributes.

Each image = study part (shared) + ``mg_series_part`` + ``mg_instance_part`` (one per view).
"""

from __future__ import annotations

from resources.corpus.ct_images import image_comment
from resources.corpus.dicom_modules import (
    MG_FOR_PRESENTATION_STORAGE,
    code_sequence,
    dicom_date,
    dicom_datetime,
    dicom_time,
)
from resources.corpus.draft import DraftDataset
from resources.corpus.plan import MammoViewPlan, StudyPlan

MATRIX = 16
TINY_PIXELS = b"".join(
    ((row * MATRIX + col) * 8).to_bytes(2, "little") for row in range(MATRIX) for col in range(MATRIX)
)
VIEW_CODES = {
    "CC": ("399162004", "SCT", "cranio-caudal"),
    "MLO": ("399368009", "SCT", "medio-lateral oblique"),
}
# Row and column directions as displayed conventionally (nipple to the viewer's left or right).
PATIENT_ORIENTATION = {
    ("R", "CC"): ["P", "L"],
    ("L", "CC"): ["A", "R"],
    ("R", "MLO"): ["P", "FL"],
    ("L", "MLO"): ["A", "FR"],
}


def mg_series_part(plan: StudyPlan, header_only: bool) -> DraftDataset:
    """What the four views share (series, equipment settings, pixel description)."""
    ds = DraftDataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.SOPClassUID = MG_FOR_PRESENTATION_STORAGE
    ds.SeriesDate = dicom_date(plan.study_date)
    ds.SeriesTime = dicom_time(plan.study_start)
    ds.Modality = "MG"
    ds.SeriesDescription = plan.protocol_raw
    ds.BodyPartExamined = "BREAST"
    ds.DistanceSourceToDetector = "700"
    ds.DistanceSourceToPatient = "660"
    ds.ProtocolName = plan.protocol_raw
    ds.ImagerPixelSpacing = ["0.07", "0.07"]
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.DetectorType = "DIRECT"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.SeriesInstanceUID = plan.mg_series_uid
    ds.SeriesNumber = "1"
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = MATRIX
    ds.Columns = MATRIX
    ds.PixelSpacing = ["0.07", "0.07"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1
    ds.WindowCenter = "2047"
    ds.WindowWidth = "4096"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    if not header_only:
        ds.add_new(0x7FE00010, "OW", TINY_PIXELS)
    return ds


def mg_instance_part(
    plan: StudyPlan, view: MammoViewPlan, instance_index: int, plant_phi: bool
) -> DraftDataset:
    """One view: laterality, projection and its exposure and dose."""
    ds = DraftDataset()
    ds.SOPInstanceUID = plan.sop_uid(1, instance_index + 1)
    ds.AcquisitionDate = dicom_date(view.acquired.date())
    ds.ContentDate = dicom_date(view.acquired.date())
    ds.AcquisitionDateTime = dicom_datetime(view.acquired)
    ds.AcquisitionTime = dicom_time(view.acquired)
    ds.ContentTime = dicom_time(view.acquired)
    ds.KVP = str(view.kvp)
    ds.ExposureTime = str(view.exposure_time_ms)
    ds.XRayTubeCurrent = str(view.tube_current_ma)
    ds.Exposure = str(max(1, round(view.exposure_mas)))
    ds.ExposureInuAs = str(round(view.exposure_mas * 1000))
    ds.BodyPartThickness = f"{view.body_part_thickness_mm:g}"
    ds.CompressionForce = f"{view.compression_force_n:g}"
    ds.ViewPosition = view.view
    ds.AnodeTargetMaterial = view.anode
    ds.PositionerPrimaryAngle = "0" if view.view == "CC" else ("45" if view.laterality == "R" else "-45")
    ds.FilterMaterial = view.filter
    ds.InstanceNumber = str(instance_index + 1)
    ds.PatientOrientation = PATIENT_ORIENTATION[(view.laterality, view.view)]
    ds.ImageLaterality = view.laterality
    if plant_phi and instance_index == 0:
        ds.ImageComments = image_comment(plan)
    ds.AnatomicRegionSequence = code_sequence("76752008", "SCT", "Breast")
    ds.ViewCodeSequence = code_sequence(*VIEW_CODES[view.view])
    ds.ViewCodeSequence[0].ViewModifierCodeSequence = []
    ds.AcquisitionContextSequence = []
    ds.OrganDose = f"{view.organ_dose_dgy:g}"
    ds.OrganExposed = "BREAST"
    ds.EntranceDoseInmGy = f"{view.entrance_dose_mgy:g}"
    # Attributes some vendors send beside the dose (derived from the plan, no extra random draws, so
    # the rest of the corpus stays as it was): detector signal, focus-to-entrance distance, HVL.
    ds.RelativeXRayExposure = str(round(view.exposure_mas * 40))
    ds.DistanceSourceToEntrance = f"{660 - view.body_part_thickness_mm:g}"
    vendor = plan.device.device.vendor
    if vendor == "GE":  # the GE systems also send the paddle's contact area and the pressure
        area = round(9000 + 80 * view.body_part_thickness_mm)
        ds.CompressionContactArea = str(area)
        ds.CompressionPressure = f"{view.compression_force_n / area * 1000:.2f}"
    if vendor == "Hologic":  # and the Hologic ones the HVL
        ds.HalfValueLayer = (
            f"{0.30 + 0.01 * (view.kvp - 20) + (0.06 if view.filter == 'SILVER' else 0.0):.3f}"
        )
    return ds
