"""Coded concepts of the CT Radiation Dose SR (PS3.16 TID 10011-10015) as (code value, scheme) pairs.

Concepts are matched on code value + coding scheme designator, never on code meaning: vendors spell
meanings differently ("CTDIVol", "Mean CTDIvol"). SNOMED concepts appear under the old SRT scheme and
the new SCT scheme (and occasionally UMLS); :data:`SCHEME_ALIASES` does not merge them, each known
spelling is listed explicitly where the two identifiers differ.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Code(NamedTuple):
    """A coded concept: code value and coding scheme designator (meaning deliberately left out).

    A named tuple rather than a dataclass: concepts are compared for every content item of every report,
    and tuple equality runs in C.
    """

    value: str
    scheme: str

    def __str__(self) -> str:
        return f"({self.value}, {self.scheme})"


def dcm(value: str) -> Code:
    return Code(value, "DCM")


# --- TID 10011 CT Radiation Dose (root) ------------------------------------------------------------
XRAY_RADIATION_DOSE_REPORT = dcm("113701")
RADIOPHARMACEUTICAL_RADIATION_DOSE_REPORT = dcm("113500")
PROCEDURE_REPORTED = dcm("121058")
COMPUTED_TOMOGRAPHY_PROCEDURES = frozenset({Code("77477000", "SCT"), Code("P5-08000", "SRT")})
PROJECTION_XRAY_PROCEDURES = frozenset({Code("113704", "DCM")})
MAMMOGRAPHY_PROCEDURES = frozenset({Code("71651007", "SCT"), Code("P5-40010", "SRT")})
START_OF_XRAY_IRRADIATION = dcm("113809")
END_OF_XRAY_IRRADIATION = dcm("113810")
SCOPE_OF_ACCUMULATION = dcm("113705")

# --- Observer context (TID 1002 / 1004) ----------------------------------------------------------
DEVICE_OBSERVER_UID = dcm("121012")
DEVICE_OBSERVER_NAME = dcm("121013")
DEVICE_OBSERVER_MANUFACTURER = dcm("121014")
DEVICE_OBSERVER_MODEL_NAME = dcm("121015")
DEVICE_OBSERVER_SERIAL_NUMBER = dcm("121016")

# --- TID 10012 CT Accumulated Dose Data -----------------------------------------------------------
CT_ACCUMULATED_DOSE_DATA = dcm("113811")
TOTAL_NUMBER_OF_IRRADIATION_EVENTS = dcm("113812")
CT_DOSE_LENGTH_PRODUCT_TOTAL = dcm("113813")
CT_EFFECTIVE_DOSE_TOTAL = dcm("113814")

# --- TID 10013 CT Irradiation Event Data ----------------------------------------------------------
CT_ACQUISITION = dcm("113819")
ACQUISITION_PROTOCOL = dcm("125203")
TARGET_REGION = dcm("123014")
CT_ACQUISITION_TYPE = dcm("113820")
IRRADIATION_EVENT_UID = dcm("113769")
DATETIME_STARTED = dcm("111526")
CT_ACQUISITION_PARAMETERS = dcm("113822")
EXPOSURE_TIME = dcm("113824")
SCANNING_LENGTH = dcm("113825")
LENGTH_OF_RECONSTRUCTABLE_VOLUME = dcm("113893")
NOMINAL_SINGLE_COLLIMATION_WIDTH = dcm("113826")
NOMINAL_TOTAL_COLLIMATION_WIDTH = dcm("113827")
PITCH_FACTOR = dcm("113828")
NUMBER_OF_XRAY_SOURCES = dcm("113823")
CT_XRAY_SOURCE_PARAMETERS = dcm("113831")
IDENTIFICATION_OF_XRAY_SOURCE = dcm("113832")
KVP = dcm("113733")
XRAY_TUBE_CURRENT = dcm("113734")
MAXIMUM_XRAY_TUBE_CURRENT = dcm("113833")
EXPOSURE_TIME_PER_ROTATION = dcm("113834")
CT_DOSE = dcm("113829")
MEAN_CTDIVOL = dcm("113830")
CTDIW_PHANTOM_TYPE = dcm("113835")
DLP = dcm("113838")
EFFECTIVE_DOSE = dcm("113839")
SIZE_SPECIFIC_DOSE_ESTIMATE = dcm("113930")
WATER_EQUIVALENT_DIAMETER = dcm("113980")

# --- TID 10015 CT Dose Check Details --------------------------------------------------------------
DOSE_CHECK_ALERT_DETAILS = dcm("113900")
DLP_ALERT_VALUE_CONFIGURED = dcm("113901")
CTDIVOL_ALERT_VALUE_CONFIGURED = dcm("113902")
DLP_ALERT_VALUE = dcm("113903")
CTDIVOL_ALERT_VALUE = dcm("113904")
ACCUMULATED_DLP_FORWARD_ESTIMATE = dcm("113905")
ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE = dcm("113906")
REASON_FOR_PROCEEDING = dcm("113907")
DOSE_CHECK_NOTIFICATION_DETAILS = dcm("113908")
DLP_NOTIFICATION_VALUE_CONFIGURED = dcm("113909")
CTDIVOL_NOTIFICATION_VALUE_CONFIGURED = dcm("113910")
DLP_NOTIFICATION_VALUE = dcm("113911")
CTDIVOL_NOTIFICATION_VALUE = dcm("113912")
DLP_FORWARD_ESTIMATE = dcm("113913")
CTDIVOL_FORWARD_ESTIMATE = dcm("113914")
YES_CODES = frozenset({Code("373066001", "SCT"), Code("R-0038D", "SRT")})


class Phantom(enum.StrEnum):
    """CTDIw Phantom Type (DCM 113835) values: the CTDI phantom diameter the dose refers to."""

    HEAD_16CM = "head_16cm"
    BODY_32CM = "body_32cm"


PHANTOM_CODES: dict[Code, Phantom] = {
    dcm("113690"): Phantom.HEAD_16CM,  # IEC Head Dosimetry Phantom
    dcm("113691"): Phantom.BODY_32CM,  # IEC Body Dosimetry Phantom
}


class AcquisitionType(enum.StrEnum):
    """CT Acquisition Type (DCM 113820, CID 10013)."""

    SEQUENCED = "Sequenced Acquisition"
    SPIRAL = "Spiral Acquisition"
    CONSTANT_ANGLE = "Constant Angle Acquisition"
    STATIONARY = "Stationary Acquisition"
    FREE = "Free Acquisition"
    CONE_BEAM = "Cone Beam Acquisition"


ACQUISITION_TYPE_CODES: dict[Code, AcquisitionType] = {
    dcm("113804"): AcquisitionType.SEQUENCED,
    Code("116152004", "SCT"): AcquisitionType.SPIRAL,
    Code("P5-08001", "SRT"): AcquisitionType.SPIRAL,
    Code("C0860888", "UMLS"): AcquisitionType.SPIRAL,
    dcm("113805"): AcquisitionType.CONSTANT_ANGLE,
    dcm("113806"): AcquisitionType.STATIONARY,
    dcm("113807"): AcquisitionType.FREE,
    Code("702569007", "SCT"): AcquisitionType.CONE_BEAM,
    Code("R-FB8F1", "SRT"): AcquisitionType.CONE_BEAM,
}


class BodyRegion(enum.StrEnum):
    """Regions for which effective-dose conversion factors are tabulated (see ``k_factors/``)."""

    HEAD = "head"
    HEAD_AND_NECK = "head_and_neck"
    NECK = "neck"
    CHEST = "chest"
    ABDOMEN_AND_PELVIS = "abdomen_and_pelvis"
    CHEST_ABDOMEN_PELVIS = "chest_abdomen_pelvis"
    TRUNK = "trunk"


# Target Region (DCM 123014) values from CID 4030 "CT, MR and PET Anatomy Imaged" mapped onto the
# k-factor regions. Regions with no tabulated factor (extremities, spine without context, whole body)
# are deliberately absent: they yield "no effective dose, region has no factor", never a guess.
TARGET_REGION_CODES: dict[Code, BodyRegion] = {
    Code("69536005", "SCT"): BodyRegion.HEAD,
    Code("T-D1100", "SRT"): BodyRegion.HEAD,
    Code("12738006", "SCT"): BodyRegion.HEAD,  # Brain
    Code("T-A0100", "SRT"): BodyRegion.HEAD,
    Code("89546000", "SCT"): BodyRegion.HEAD,  # Skull
    Code("T-11100", "SRT"): BodyRegion.HEAD,
    Code("774007", "SCT"): BodyRegion.HEAD_AND_NECK,
    Code("T-D1000", "SRT"): BodyRegion.HEAD_AND_NECK,
    Code("45048000", "SCT"): BodyRegion.NECK,
    Code("T-D1600", "SRT"): BodyRegion.NECK,
    Code("43799004", "SCT"): BodyRegion.CHEST,
    Code("T-D3000", "SRT"): BodyRegion.CHEST,
    Code("51185008", "SCT"): BodyRegion.CHEST,  # Thorax
    Code("816094009", "SCT"): BodyRegion.CHEST,  # Chest (current SNOMED concept)
    Code("80891009", "SCT"): BodyRegion.CHEST,  # Heart: cardiac CT takes the chest factor
    Code("T-32000", "SRT"): BodyRegion.CHEST,
    Code("2095001", "SCT"): BodyRegion.HEAD,  # Paranasal sinus
    Code("122494005", "SCT"): BodyRegion.NECK,  # Cervical spine: neck factor, as commonly applied
    Code("818981001", "SCT"): BodyRegion.ABDOMEN_AND_PELVIS,  # Abdomen: tabulated with pelvis
    Code("113345001", "SCT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("T-D4000", "SRT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("816092008", "SCT"): BodyRegion.ABDOMEN_AND_PELVIS,  # Pelvis
    Code("12921003", "SCT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("T-D6000", "SRT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("818982008", "SCT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("R-FAB57", "SRT"): BodyRegion.ABDOMEN_AND_PELVIS,
    Code("416775004", "SCT"): BodyRegion.CHEST_ABDOMEN_PELVIS,
    Code("R-FAB55", "SRT"): BodyRegion.CHEST_ABDOMEN_PELVIS,
    Code("416550000", "SCT"): BodyRegion.TRUNK,  # Chest and Abdomen
    Code("R-FAB56", "SRT"): BodyRegion.TRUNK,
    Code("38266002", "SCT"): BodyRegion.TRUNK,  # Entire body: trunk factor is the closest tabulated
    Code("T-D0010", "SRT"): BodyRegion.TRUNK,
}

# Units (MeasurementUnitsCodeSequence, UCUM) as vendors spell them, mapped to one canonical spelling
# and the factor to reach it.
UNIT_ALIASES: dict[str, tuple[str, float]] = {
    "mgy": ("mGy", 1.0),
    "mgy.cm": ("mGy.cm", 1.0),
    "mgycm": ("mGy.cm", 1.0),
    "mgy*cm": ("mGy.cm", 1.0),
    "mgy cm": ("mGy.cm", 1.0),
    "mgy/cm": ("mGy.cm", 1.0),
    "mgy.mm": ("mGy.cm", 0.1),
    "msv": ("mSv", 1.0),
    "mm": ("mm", 1.0),
    "cm": ("mm", 10.0),
    "m": ("mm", 1000.0),
    "s": ("s", 1.0),
    "ms": ("s", 0.001),
    "kv": ("kV", 1.0),
    "ma": ("mA", 1.0),
    "{ratio}": ("1", 1.0),
    "1": ("1", 1.0),
    "ratio": ("1", 1.0),
    "{x-ray sources}": ("1", 1.0),
    "{events}": ("1", 1.0),
}
