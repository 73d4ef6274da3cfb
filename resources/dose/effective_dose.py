"""Effective dose from DLP: E = k x DLP per event, summed per study.

k comes from a versioned factor set (``k_factors/<name>.csv``, each row carrying source and edition):
``aapm96_icrp60`` (AAPM Report 96 / ICRP 60, the default) or ``nci_icrp103`` (ICRP 103 based).

Rules, chosen so that a number is only ever produced when it can be defended:

* **Region** from the event's Target Region code (CID 4030), else from the study's normalised body part
  (curation engine), else none. No region, or a region the factor set does not tabulate, gives no
  number and a reason.
* **Age band**: the band whose nominal age is nearest to the patient's age at the study (adult is
  nominal 18 y; a tie goes to the older band). Bands of AAPM 96: 0, 1, 5, 10 y, adult; of the ICRP 103
  set also 15 y. So with AAPM 96: < 0.5 y -> 0 y; 0.5-3 y -> 1 y; 3-7.5 y -> 5 y; 7.5-14 y -> 10 y;
  >= 14 y -> adult. An unknown age gives no number and a reason; it is never an adult by default.
* **Phantom**: the factor row states the CTDI phantom its k assumes. When the event's DLP was reported on
  the other phantom, the DLP is converted (16 cm -> 32 cm: x 0.5; 32 cm -> 16 cm: x 2.0; a body scan on
  the 16 cm phantom reads about 2-3 x the 32 cm value, Chu et al., Pediatr Radiol 2022; 2 is the
  conservative end) and the result's method says ``phantom_converted``. An event with no phantom stated
  is assumed to match the factor's phantom and flagged ``phantom_assumed``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.dose.codes import TARGET_REGION_CODES, BodyRegion, Code, Phantom
from resources.dose.errors import FactorSetError

FACTOR_DIR = Path(__file__).with_name("k_factors")
DEFAULT_FACTOR_SET = "aapm96_icrp60"
ADULT_NOMINAL_AGE = 18.0
PHANTOM_CONVERSION = {
    (Phantom.HEAD_16CM, Phantom.BODY_32CM): 0.5,
    (Phantom.BODY_32CM, Phantom.HEAD_16CM): 2.0,
}


@dataclass(frozen=True, slots=True)
class KFactor:
    region: BodyRegion
    age_band: str
    age_years: float
    phantom: Phantom
    k: float


@dataclass(frozen=True)
class FactorSet:
    """One versioned set of k-factors (a CSV in ``k_factors/``)."""

    name: str
    edition: str
    source: str
    factors: tuple[KFactor, ...]

    def bands(self, region: BodyRegion) -> list[KFactor]:
        return sorted((f for f in self.factors if f.region == region), key=lambda f: f.age_years)

    @property
    def regions(self) -> frozenset[BodyRegion]:
        return frozenset(f.region for f in self.factors)


@cache
def load_factor_set(name: str = DEFAULT_FACTOR_SET, folder: Path = FACTOR_DIR) -> FactorSet:
    """Load a factor set by name.

    Parameters
    ----------
    name
        File stem in ``folder`` (``aapm96_icrp60`` or ``nci_icrp103``).
    folder
        Where the CSV files live.

    Returns
    -------
    FactorSet

    Raises
    ------
    FactorSetError
        When the file is missing or a row is malformed.
    """
    path = folder / f"{name}.csv"
    if not re.fullmatch(r"[a-z0-9_]+", name) or not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.csv"))
        raise FactorSetError(f"k-factor set {name!r} not found; available: {', '.join(available)}")
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(line for line in lines if line.strip() and not line.startswith("#")))
    factors: list[KFactor] = []
    editions: set[str] = set()
    sources: set[str] = set()
    for number, row in enumerate(rows, start=1):
        try:
            factors.append(
                KFactor(
                    region=BodyRegion(row["region"]),
                    age_band=row["age_band"],
                    age_years=float(row["age_years"]),
                    phantom=Phantom(row["phantom"]),
                    k=float(row["k_msv_per_mgycm"]),
                )
            )
        except (KeyError, ValueError) as exc:
            raise FactorSetError(f"{path.name} data row {number}: {exc}") from exc
        editions.add(row["edition"])
        sources.add(row["source"])
    if not factors:
        raise FactorSetError(f"{path.name}: no factors")
    return FactorSet(
        name=name,
        edition="; ".join(sorted(editions)),
        source="; ".join(sorted(sources)),
        factors=tuple(factors),
    )


def parse_patient_age(text: str | None) -> float | None:
    """Age in years from a DICOM AS value (``045Y``, ``006M``, ``010W``, ``003D``); None if unusable."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d{1,3})\s*([DWMY]?)\s*", text.upper())
    if not match:
        return None
    number = int(match.group(1))
    unit = match.group(2) or "Y"
    return number / {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[unit]


def age_band_for(age_years: float, bands: Sequence[KFactor]) -> KFactor:
    """The band whose nominal age is nearest (ties to the older band; the adult band is nominal 18 y)."""
    return min(bands, key=lambda f: (abs(f.age_years - age_years), -f.age_years))


@dataclass(frozen=True, slots=True)
class EffectiveDoseResult:
    """E for one event, or the reason there is none. Always records set, region, band and method."""

    dlp_mgycm: float | None
    effective_dose_msv: float | None
    k: float | None
    factor_set: str
    factor_set_edition: str
    region: BodyRegion | None
    region_method: str | None  # "target_region_code" | "body_part" | None
    age_band: str | None
    age_years: float | None
    method: str | None  # "k_x_dlp" | "k_x_dlp_phantom_converted" | "k_x_dlp_phantom_assumed"
    reason: str | None


def region_for_event(
    target_region: Code | None, body_part_region: BodyRegion | None
) -> tuple[BodyRegion | None, str | None]:
    """Region from the target-region code, else from the normalised body part, else none."""
    if target_region is not None:
        region = TARGET_REGION_CODES.get(target_region)
        if region is not None:
            return region, "target_region_code"
    if body_part_region is not None:
        return body_part_region, "body_part"
    return None, None


def effective_dose_for_event(
    dlp_mgycm: float | None,
    phantom: Phantom | None,
    region: BodyRegion | None,
    region_method: str | None,
    age_years: float | None,
    factor_set: FactorSet,
) -> EffectiveDoseResult:
    """E = k x DLP for one event, with the reason when no number can be given."""

    def none(reason: str, band: str | None = None) -> EffectiveDoseResult:
        return EffectiveDoseResult(
            dlp_mgycm,
            None,
            None,
            factor_set.name,
            factor_set.edition,
            region,
            region_method,
            band,
            age_years,
            None,
            reason,
        )

    if dlp_mgycm is None:
        return none("no DLP reported for the event")
    if region is None:
        return none("region unknown (no usable target region code, no usable body part)")
    bands = factor_set.bands(region)
    if not bands:
        return none(f"factor set {factor_set.name} has no factor for region {region.value}")
    if age_years is None:
        return none("patient age unknown")
    band = age_band_for(age_years, bands)
    dlp = dlp_mgycm
    method = "k_x_dlp"
    if phantom is None:
        method = "k_x_dlp_phantom_assumed"
    elif phantom != band.phantom:
        dlp = dlp_mgycm * PHANTOM_CONVERSION[(phantom, band.phantom)]
        method = "k_x_dlp_phantom_converted"
    return EffectiveDoseResult(
        dlp_mgycm,
        band.k * dlp,
        band.k,
        factor_set.name,
        factor_set.edition,
        region,
        region_method,
        band.age_band,
        age_years,
        method,
        None,
    )


@dataclass(frozen=True, slots=True)
class StudyEffectiveDose:
    """Sum over a study's events; None when any dose-bearing event has no number (reason given)."""

    effective_dose_msv: float | None
    effective_dose_partial_msv: float
    events_with_dose: int
    events_without_number: int
    reason: str | None


def sum_study(results: Iterable[EffectiveDoseResult]) -> StudyEffectiveDose:
    """Sum per-event results; a study with any dose-bearing event lacking a number gets no total."""
    numbers: list[float] = []
    missing: list[str] = []
    for result in results:
        if result.dlp_mgycm is None or result.dlp_mgycm == 0:
            continue
        if result.effective_dose_msv is None:
            missing.append(result.reason or "no number")
        else:
            numbers.append(result.effective_dose_msv)
    partial = math.fsum(numbers)
    if missing:
        reasons = "; ".join(sorted(set(missing)))
        return StudyEffectiveDose(
            None,
            partial,
            len(numbers),
            len(missing),
            f"{len(missing)} event(s) without effective dose: {reasons}",
        )
    if not numbers:
        return StudyEffectiveDose(None, 0.0, 0, 0, "no event with a DLP")
    return StudyEffectiveDose(partial, partial, len(numbers), 0, None)
