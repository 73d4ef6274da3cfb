"""Coded concepts of the Projection X-Ray Radiation Dose SR (PS3.16 TID 10001-10007) as (value, scheme).

Matched on code value + scheme, never on meaning: vendors write "DateTime Started" and "Date Time
Started", "Fluoro Dose(RP) Total" and "Fluoro Dose (RP) Total". SNOMED concepts are listed under both the
old SRT and the current SCT identifiers where vendors use both. The concepts shared with the CT templates
(observer context, procedure reported, KVP, tube current, irradiation event UID) are in
:mod:`resources.dose.codes`.
"""

from __future__ import annotations

import enum

from resources.dose.codes import Code, dcm

# --- TID 10001 Projection X-Ray Radiation Dose (root) -------------------------------------------------
ACCUMULATED_XRAY_DOSE_DATA = dcm("113702")
IRRADIATION_EVENT_XRAY_DATA = dcm("113706")
SOURCE_OF_DOSE_INFORMATION = dcm("113854")
HAS_INTENT = frozenset({Code("G-C0E8", "SRT"), Code("363703001", "SCT")})
ACQUISITION_DEVICE_TYPE = dcm("122142")

# --- TID 10002 Accumulated X-Ray Dose Data, with 10004 / 10005 / 10007 ------------------------------------
ACQUISITION_PLANE = dcm("113764")
DOSE_AREA_PRODUCT_TOTAL = dcm("113722")
DOSE_RP_TOTAL = dcm("113725")
FLUORO_DOSE_AREA_PRODUCT_TOTAL = dcm("113726")
ACQUISITION_DOSE_AREA_PRODUCT_TOTAL = dcm("113727")
FLUORO_DOSE_RP_TOTAL = dcm("113728")
ACQUISITION_DOSE_RP_TOTAL = dcm("113729")
TOTAL_FLUORO_TIME = dcm("113730")
TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES = dcm("113731")
TOTAL_ACQUISITION_TIME = dcm("113855")
ACCUMULATED_AVERAGE_GLANDULAR_DOSE = dcm("111637")
REFERENCE_POINT_DEFINITION = dcm("113780")
LATERALITY = frozenset({Code("G-C171", "SRT"), Code("272741003", "SCT")})

# --- TID 10003 Irradiation Event X-Ray Data ------------------------------------------------------------
IRRADIATION_EVENT_LABEL = dcm("113605")
IRRADIATION_EVENT_TYPE = dcm("113721")
ANATOMICAL_STRUCTURE = frozenset({Code("T-D0005", "SRT"), Code("91723000", "SCT")})
IMAGE_VIEW = dcm("111031")
IMAGE_VIEW_MODIFIER = dcm("111032")
PATIENT_TABLE_RELATIONSHIP = dcm("113745")
PATIENT_ORIENTATION = dcm("113743")
PATIENT_ORIENTATION_MODIFIER = dcm("113744")
DOSE_AREA_PRODUCT = dcm("122130")
HALF_VALUE_LAYER = dcm("111634")
DOSE_RP = dcm("113738")
ENTRANCE_EXPOSURE_AT_RP = dcm("111636")
AVERAGE_GLANDULAR_DOSE = dcm("111631")
COMPRESSION_THICKNESS = dcm("111633")
COMPRESSION_FORCE = dcm("111647")
COMPRESSION_PRESSURE = dcm("111648")
COMPRESSION_CONTACT_AREA = dcm("111649")
PATIENT_EQUIVALENT_THICKNESS = dcm("111638")
POSITIONER_PRIMARY_ANGLE = dcm("112011")
POSITIONER_SECONDARY_ANGLE = dcm("112012")
POSITIONER_PRIMARY_END_ANGLE = dcm("113739")
POSITIONER_SECONDARY_END_ANGLE = dcm("113740")
COLUMN_ANGULATION = dcm("113770")
XRAY_FILTERS = dcm("113771")
XRAY_FILTER_TYPE = dcm("113772")
XRAY_FILTER_MATERIAL = dcm("113757")
XRAY_FILTER_THICKNESS_MINIMUM = dcm("113758")
XRAY_FILTER_THICKNESS_MAXIMUM = dcm("113773")
FLUORO_MODE = dcm("113732")
PULSE_RATE = dcm("113791")
NUMBER_OF_PULSES = dcm("113768")
IRRADIATION_DURATION = dcm("113742")
AVERAGE_XRAY_TUBE_CURRENT = dcm("113767")
EXPOSURE = dcm("113736")
PULSE_WIDTH = dcm("113793")
# TID 10003B's Exposure Time was 113735 before CP-1077 moved it to 113824 (the CT concept); both occur.
EXPOSURE_TIMES = frozenset({dcm("113735"), dcm("113824")})
FOCAL_SPOT_SIZE = dcm("113766")
ANODE_TARGET_MATERIAL = frozenset({dcm("111632"), dcm("113632")})
XRAY_GRID = dcm("111635")
COLLIMATED_FIELD_AREA = dcm("113790")
COLLIMATED_FIELD_HEIGHT = dcm("113788")
COLLIMATED_FIELD_WIDTH = dcm("113789")
DISTANCE_SOURCE_TO_ISOCENTER = dcm("113748")
DISTANCE_SOURCE_TO_REFERENCE_POINT = dcm("113737")
DISTANCE_SOURCE_TO_DETECTOR = dcm("113750")
DISTANCE_SOURCE_TO_TABLE_PLANE = dcm("113792")
TABLE_LONGITUDINAL_POSITION = dcm("113751")
TABLE_LATERAL_POSITION = dcm("113752")
TABLE_HEIGHT_POSITION = dcm("113753")
TABLE_HEAD_TILT_ANGLE = dcm("113754")
TABLE_HORIZONTAL_ROTATION_ANGLE = dcm("113755")
TABLE_CRADLE_TILT_ANGLE = dcm("113756")
# --- TID 10003C Irradiation Event X-Ray Detector Data
EXPOSURE_INDEX = dcm("113845")
TARGET_EXPOSURE_INDEX = dcm("113846")
DEVIATION_INDEX = dcm("113847")


class AcquisitionPlane(enum.StrEnum):
    """Acquisition Plane (DCM 113764, CID 10003)."""

    SINGLE = "single"
    PLANE_A = "plane_a"
    PLANE_B = "plane_b"


PLANE_CODES: dict[Code, AcquisitionPlane] = {
    dcm("113622"): AcquisitionPlane.SINGLE,
    dcm("113620"): AcquisitionPlane.PLANE_A,
    dcm("113621"): AcquisitionPlane.PLANE_B,
}


class IrradiationEventType(enum.StrEnum):
    """Irradiation Event Type (DCM 113721, CID 10002)."""

    FLUOROSCOPY = "fluoroscopy"
    STATIONARY = "stationary_acquisition"
    STEPPING = "stepping_acquisition"
    ROTATIONAL = "rotational_acquisition"


EVENT_TYPE_CODES: dict[Code, IrradiationEventType] = {
    Code("P5-06000", "SRT"): IrradiationEventType.FLUOROSCOPY,
    Code("44491008", "SCT"): IrradiationEventType.FLUOROSCOPY,
    dcm("113611"): IrradiationEventType.STATIONARY,
    dcm("113612"): IrradiationEventType.STEPPING,
    dcm("113613"): IrradiationEventType.ROTATIONAL,
}

FLUORO_MODE_CODES: dict[Code, str] = {dcm("113630"): "continuous", dcm("113631"): "pulsed"}


class Laterality(enum.StrEnum):
    """A breast or body side, from CID 6022 / CID 244 values (left breast and left alike)."""

    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"


LATERALITY_CODES: dict[Code, Laterality] = {
    Code("T-04030", "SRT"): Laterality.LEFT,  # Left breast
    Code("80248007", "SCT"): Laterality.LEFT,
    Code("G-A101", "SRT"): Laterality.LEFT,  # Left
    Code("7771000", "SCT"): Laterality.LEFT,
    Code("T-04020", "SRT"): Laterality.RIGHT,  # Right breast
    Code("73056007", "SCT"): Laterality.RIGHT,
    Code("G-A100", "SRT"): Laterality.RIGHT,  # Right
    Code("24028007", "SCT"): Laterality.RIGHT,
    Code("T-04080", "SRT"): Laterality.BOTH,  # Both breasts
    Code("63762007", "SCT"): Laterality.BOTH,
    Code("G-A102", "SRT"): Laterality.BOTH,  # Right and left
    Code("51440002", "SCT"): Laterality.BOTH,
}

# Image View (DCM 111031, CID 4014 mammography views) by the abbreviation breast-screening audits use.
VIEW_CODES: dict[Code, str] = {
    Code("R-10242", "SNM3"): "CC",
    Code("R-10242", "SRT"): "CC",
    Code("399162004", "SCT"): "CC",
    Code("R-10226", "SNM3"): "MLO",
    Code("R-10226", "SRT"): "MLO",
    Code("399368009", "SCT"): "MLO",
    Code("R-10224", "SRT"): "ML",
    Code("399260004", "SCT"): "ML",
    Code("R-10228", "SRT"): "LM",
    Code("399352003", "SCT"): "LM",
    Code("R-1024A", "SRT"): "XCCL",
    Code("399192003", "SCT"): "XCCL",
    Code("R-10230", "SRT"): "LMO",
    Code("399099002", "SCT"): "LMO",
}
