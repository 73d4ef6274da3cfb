"""Size-specific dose estimate (SSDE), AAPM Reports 204 and 220.

SSDE = f(D) x CTDIvol, with f = a * exp(-b * D) the Report 204 fit for the phantom CTDIvol was reported
on (16 or 32 cm; ``ssde/aapm204_fit.csv``) and D the patient's size in cm. The size, best first:

``image_dw_aapm220``
    Water-equivalent diameter from a CT image of the event (Report 220): Aw = sum over the patient of
    (HU / 1000 + 1) x pixel area, Dw = 2 sqrt(Aw / pi). The patient is the pixels above
    ``PATIENT_THRESHOLD_HU``; an outline that touches the image edge is truncated (Report 220 warns
    that truncation underestimates Dw) and gives no number.
``rdsr_dw_aapm204``
    The Water Equivalent Diameter (DCM 113980) the dose report itself gives.
``ap_lat_aapm204``
    Effective diameter sqrt(AP x LAT) from the patient's AP and lateral dimensions (Report 204), e.g.
    measured on the localiser, where the caller has them.
``age_table_aapm204``
    Effective diameter from the patient's age by Report 204's age table (its Table 3, DICOM CID 10023
    code 113937), for body (trunk) examinations only: the table describes the trunk.

An SSDE the dose report carries (DCM 113930) is kept as it is, method ``rdsr``. The age table is read
from ``ssde/aapm204_age_table.csv``; dicom-lake ships it as a template without values, because Report
204's Table 3 could not be read and verified here (see the file's header). Until a site fills it in,
the age fallback gives no number, and the event's reason says why.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from resources.dose.errors import FactorSetError

FIT_FILE = Path(__file__).with_name("ssde") / "aapm204_fit.csv"
AGE_TABLE_FILE = Path(__file__).with_name("ssde") / "aapm204_age_table.csv"
# How each method is shown to a person (asset metadata, report): the code is what the warehouse keeps.
METHOD_LABELS = {
    "rdsr": "dose report SSDE",
    "image_dw_aapm220": "image Dw",
    "rdsr_dw_aapm204": "dose report Dw",
    "ap_lat_aapm204": "AP/LAT",
    "age_table_aapm204": "age table",
}
# Air is about -1000 HU, fat about -100 HU: half-way keeps lung inside the outline and air outside.
PATIENT_THRESHOLD_HU = -500.0
PHANTOM_CM = {"head_16cm": 16, "body_32cm": 32}  # resources.dose.codes.Phantom values


@dataclass(frozen=True, slots=True)
class Ssde:
    ssde_mgy: float | None
    method: str | None
    diameter_mm: float | None = None
    factor: float | None = None
    reason: str | None = None


@cache
def fit_parameters() -> dict[int, tuple[float, float]]:
    """Phantom diameter (cm) -> (a, b per cm) of the Report 204 fit.

    Raises
    ------
    FactorSetError
        When the data file is missing or malformed.
    """
    try:
        lines = [
            line for line in FIT_FILE.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
        ]
        rows = list(csv.DictReader(lines))
        return {int(r["phantom_cm"]): (float(r["a"]), float(r["b_per_cm"])) for r in rows}
    except (OSError, KeyError, ValueError) as exc:
        raise FactorSetError(f"{FIT_FILE.name}: {exc}") from exc


def conversion_factor(diameter_cm: float, phantom_cm: int) -> float:
    """Report 204's f for a patient of ``diameter_cm`` and CTDIvol on the ``phantom_cm`` phantom.

    Raises
    ------
    ValueError
        When the phantom is not 16 or 32 cm or the diameter is not positive.
    """
    parameters = fit_parameters()
    if phantom_cm not in parameters:
        raise ValueError(f"no AAPM 204 fit for a {phantom_cm} cm phantom")
    if diameter_cm <= 0:
        raise ValueError(f"diameter must be positive, not {diameter_cm}")
    a, b = parameters[phantom_cm]
    return a * math.exp(-b * diameter_cm)


def effective_diameter_mm(ap_mm: float, lateral_mm: float) -> float:
    """Report 204's effective diameter from AP and lateral dimensions: sqrt(AP x LAT)."""
    return math.sqrt(ap_mm * lateral_mm)


@dataclass(frozen=True)
class AgeTable:
    """Report 204's effective diameter by age: (age in years, diameter in mm) rows, ages ascending."""

    rows: tuple[tuple[float, float], ...]
    source: str

    def diameter_mm(self, age_years: float) -> float | None:
        """The diameter at an age, linear between rows; None outside the table (never extrapolated)."""
        ages = [age for age, _ in self.rows]
        if not self.rows or age_years < ages[0] or age_years > ages[-1]:
            return None
        return float(np.interp(age_years, ages, [diameter for _, diameter in self.rows]))


def load_age_table(path: Path = AGE_TABLE_FILE) -> tuple[AgeTable | None, str | None]:
    """The age table, or (None, why there is none) for a template without values.

    Raises
    ------
    FactorSetError
        When the file is missing or a row is malformed (ages not ascending, a diameter not positive).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FactorSetError(f"{path.name}: {exc}") from exc
    if re.search(r"^#\s*template:\s*true", text, re.MULTILINE):
        return None, f"AAPM 204 age table not available ({path.name} is a template without values)"
    source = next((m.group(1).strip() for m in re.finditer(r"^#\s*source:(.*)$", text, re.M)), "")
    rows: list[tuple[float, float]] = []
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for number, row in enumerate(csv.DictReader(lines), start=1):
        try:
            age, diameter = float(row["age_years"]), float(row["effective_diameter_cm"]) * 10.0
        except (KeyError, TypeError, ValueError) as exc:
            raise FactorSetError(f"{path.name} data row {number}: {exc}") from exc
        if diameter <= 0 or (rows and age <= rows[-1][0]):
            raise FactorSetError(f"{path.name} data row {number}: ages ascending, diameters positive")
        rows.append((age, diameter))
    if not rows or not source:
        raise FactorSetError(f"{path.name}: needs a '# source:' line and at least one row")
    return AgeTable(tuple(rows), source), None


def water_equivalent_diameter_mm(
    hu: npt.NDArray[np.floating],
    pixel_spacing_mm: tuple[float, float],
    threshold_hu: float = PATIENT_THRESHOLD_HU,
) -> tuple[float | None, str | None]:
    """Report 220's Dw of one axial image in Hounsfield units, or (None, reason).

    The patient outline is every pixel above ``threshold_hu``; Aw sums (HU / 1000 + 1) over it.
    """
    if hu.ndim != 2 or hu.size == 0:
        return None, "not a single 2-D image"
    inside = hu > threshold_hu
    if not inside.any():
        return None, "no patient in the image (nothing above the air threshold)"
    if inside[0, :].any() or inside[-1, :].any() or inside[:, 0].any() or inside[:, -1].any():
        return None, "patient outline touches the image edge (truncated field of view)"
    pixel_area = float(pixel_spacing_mm[0]) * float(pixel_spacing_mm[1])
    water_area = float(np.sum(hu[inside] / 1000.0 + 1.0)) * pixel_area
    if water_area <= 0:
        return None, "no water-equivalent area"
    return 2.0 * math.sqrt(water_area / math.pi), None


def ssde_from_diameter(
    ctdivol_mgy: float | None, phantom: str | None, diameter_mm: float | None, method: str
) -> Ssde:
    """SSDE from a size; no number (with the reason) when CTDIvol, phantom or size is missing."""
    if ctdivol_mgy is None:
        return Ssde(None, None, diameter_mm, reason="no CTDIvol")
    if phantom not in PHANTOM_CM:
        return Ssde(None, None, diameter_mm, reason="CTDIvol phantom unknown")
    if diameter_mm is None or diameter_mm <= 0:
        return Ssde(None, None, None, reason="no patient size")
    factor = conversion_factor(diameter_mm / 10.0, PHANTOM_CM[str(phantom)])
    return Ssde(ctdivol_mgy * factor, method, diameter_mm, factor)
