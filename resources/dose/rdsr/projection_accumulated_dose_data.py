"""PS3.16 TID 10002 Accumulated X-Ray Dose Data (container DCM 113702), one per acquisition plane.

TID 10002 includes, inline, TID 10004 Accumulated Fluoroscopy and Acquisition Projection X-Ray Dose
(fluoro and acquisition DAP, dose at RP and times), TID 10005 Accumulated Projection X-Ray Dose (DAP and
dose at RP totals, radiographic frames) and TID 10007 Accumulated Mammography X-Ray Dose (the
accumulated average glandular dose per breast, laterality as a concept modifier). A biplane system sends
one container per plane (Plane A, Plane B). The totals are kept as the report states them; the dose
engine recomputes them from the unique events and compares.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.dose.codes import Code
from resources.dose.rdsr import projection_codes as pc
from resources.dose.rdsr.content_items import CONCEPT_CODE, TEXT_VALUE
from resources.dose.rdsr.content_tree import (
    ContentNode,
    TextDecoder,
    children,
    code_meaning,
    first_code,
    raw_value,
)
from resources.dose.rdsr.projection_codes import AcquisitionPlane, Laterality
from resources.dose.rdsr.projection_numbers import NumberCollector
from resources.dose.rdsr.value_types import ValueType


@dataclass(frozen=True, slots=True)
class AccumulatedAverageGlandularDose:
    """TID 10007: Accumulated Average Glandular Dose (DCM 111637) of one breast."""

    laterality: Laterality | None
    laterality_code: Code | None
    average_glandular_dose_mgy: float | None


@dataclass(frozen=True, slots=True)
class ProjectionAccumulatedDoseData:
    """PS3.16 TID 10002 (with 10004 / 10005 / 10007) of one acquisition plane, units normalised."""

    acquisition_plane: AcquisitionPlane | None
    dose_area_product_total_gym2: float | None
    dose_rp_total_gy: float | None
    fluoro_dose_area_product_total_gym2: float | None
    fluoro_dose_rp_total_gy: float | None
    total_fluoro_time_s: float | None
    acquisition_dose_area_product_total_gym2: float | None
    acquisition_dose_rp_total_gy: float | None
    total_acquisition_time_s: float | None
    total_number_of_radiographic_frames: int | None
    reference_point_definition: str | None
    accumulated_average_glandular_dose: tuple[AccumulatedAverageGlandularDose, ...]
    flags: tuple[str, ...] = ()

    def agd_mgy(self, side: Laterality) -> float | None:
        """The accumulated AGD stated for one breast, or None when the report states none."""
        values = [a.average_glandular_dose_mgy for a in self.accumulated_average_glandular_dose]
        sides = [a.laterality for a in self.accumulated_average_glandular_dose]
        found = [v for v, s in zip(values, sides, strict=True) if s is side and v is not None]
        return found[0] if found else None


# Concept -> (name, canonical unit); every one of these is a dose-report total.
_NUMBERS: dict[Code, tuple[str, str]] = {
    pc.DOSE_AREA_PRODUCT_TOTAL: ("dose_area_product_total", "Gy.m2"),
    pc.DOSE_RP_TOTAL: ("dose_rp_total", "Gy"),
    pc.FLUORO_DOSE_AREA_PRODUCT_TOTAL: ("fluoro_dose_area_product_total", "Gy.m2"),
    pc.FLUORO_DOSE_RP_TOTAL: ("fluoro_dose_rp_total", "Gy"),
    pc.TOTAL_FLUORO_TIME: ("total_fluoro_time", "s"),
    pc.ACQUISITION_DOSE_AREA_PRODUCT_TOTAL: ("acquisition_dose_area_product_total", "Gy.m2"),
    pc.ACQUISITION_DOSE_RP_TOTAL: ("acquisition_dose_rp_total", "Gy"),
    pc.TOTAL_ACQUISITION_TIME: ("total_acquisition_time", "s"),
}
_DOSES = frozenset(name for name, unit in _NUMBERS.values() if unit in ("Gy.m2", "Gy"))


def read_projection_accumulated_dose_data(
    node: ContentNode, decoder: TextDecoder
) -> ProjectionAccumulatedDoseData:
    """Read one Accumulated X-Ray Dose Data container (DCM 113702)."""
    numbers = NumberCollector(decoder, prefix="accumulated_")
    plane: AcquisitionPlane | None = None
    frames: int | None = None
    reference: str | None = None
    agd: list[AccumulatedAverageGlandularDose] = []
    for child in children(node.item):
        concept = child.concept
        if concept in _NUMBERS:
            name, unit = _NUMBERS[concept]
            numbers.read(name, child, unit, dose=name in _DOSES)
        elif concept == pc.TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES:
            frames = numbers.count("total_number_of_radiographic_frames", child)
        elif concept == pc.ACQUISITION_PLANE:
            code = first_code(child.item, CONCEPT_CODE)
            plane = pc.PLANE_CODES.get(code) if code else None
            if plane is None:
                numbers.flags.append(f"unknown_acquisition_plane:{code}")
        elif concept == pc.REFERENCE_POINT_DEFINITION:
            if child.value_type is ValueType.TEXT:  # CODE in the standard; several vendors write TEXT
                raw = raw_value(child.item, TEXT_VALUE)
                reference = decoder.text(raw) if raw is not None else None
            else:
                reference = code_meaning(child.item, CONCEPT_CODE, decoder)
        elif concept == pc.ACCUMULATED_AVERAGE_GLANDULAR_DOSE:
            agd.append(_accumulated_agd(child, numbers, len(agd)))
    return ProjectionAccumulatedDoseData(
        acquisition_plane=plane,
        dose_area_product_total_gym2=numbers.get("dose_area_product_total"),
        dose_rp_total_gy=numbers.get("dose_rp_total"),
        fluoro_dose_area_product_total_gym2=numbers.get("fluoro_dose_area_product_total"),
        fluoro_dose_rp_total_gy=numbers.get("fluoro_dose_rp_total"),
        total_fluoro_time_s=numbers.get("total_fluoro_time"),
        acquisition_dose_area_product_total_gym2=numbers.get("acquisition_dose_area_product_total"),
        acquisition_dose_rp_total_gy=numbers.get("acquisition_dose_rp_total"),
        total_acquisition_time_s=numbers.get("total_acquisition_time"),
        total_number_of_radiographic_frames=frames,
        reference_point_definition=reference,
        accumulated_average_glandular_dose=tuple(agd),
        flags=tuple(dict.fromkeys(numbers.flags)),
    )


def _accumulated_agd(
    node: ContentNode, numbers: NumberCollector, index: int
) -> AccumulatedAverageGlandularDose:
    name = f"average_glandular_dose[{index}]"
    value = numbers.read(name, node, "mGy", dose=True)
    laterality_code: Code | None = None
    for modifier in children(node.item):
        if modifier.concept in pc.LATERALITY:
            laterality_code = first_code(modifier.item, CONCEPT_CODE)
    side = pc.LATERALITY_CODES.get(laterality_code) if laterality_code else None
    if side is None:
        numbers.flags.append(f"accumulated_agd_without_laterality:{laterality_code}")
    return AccumulatedAverageGlandularDose(side, laterality_code, value)
