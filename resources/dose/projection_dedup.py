"""Several projection X-ray dose SRs for one study: de-duplicate, recompute the totals per plane, compare.

The same rule as for CT (:mod:`resources.dose.dedup`): reports are de-duplicated by SOP Instance UID,
events by Irradiation Event UID (an event without one is kept, flagged), the kept copy of an event is
that of the report holding most events (a cumulative report), and the totals are recomputed per plane
from the unique events and compared with the largest total any report states for that plane (their sum
when the reports hold disjoint events: "continued" reports). A difference beyond the events' rounding is
flagged ``total_mismatch:<quantity>:<plane>``, never hidden.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from resources.dose.rdsr.projection_accumulated_dose_data import ProjectionAccumulatedDoseData
from resources.dose.rdsr.projection_codes import AcquisitionPlane, IrradiationEventType, Laterality
from resources.dose.rdsr.projection_irradiation_event_data import ProjectionIrradiationEventData
from resources.dose.rdsr.projection_radiation_dose import ProjectionXRayRadiationDose, plane_of

# Vendors round each event's DAP to 1e-6 Gy.m2 (0.01 Gy.cm2) at worst and dose at RP to 1e-5 Gy, and
# state totals to a few significant digits: a recomputed total within 2 % or within half a unit per
# event of those roundings is the same total.
RELATIVE_TOLERANCE = 0.02
DAP_ROUNDING_GYM2 = 0.5e-6
DOSE_RP_ROUNDING_GY = 0.5e-5


def totals_match(recomputed: float, reported: float | None, n_events: int, rounding: float) -> bool | None:
    """Whether a recomputed total is the reported one within rounding; None when none is reported."""
    if reported is None:
        return None
    tolerance = max(RELATIVE_TOLERANCE * abs(reported), (n_events + 1) * rounding)
    return abs(recomputed - reported) <= tolerance


@dataclass(frozen=True, slots=True)
class UniqueProjectionEvent:
    """An irradiation event once, with the report it was taken from."""

    event: ProjectionIrradiationEventData
    report: ProjectionXRayRadiationDose
    seen_in_reports: int


@dataclass(frozen=True, slots=True)
class PlaneTotals:
    """One plane's totals: recomputed from the unique events, and as the reports state them."""

    plane: AcquisitionPlane
    n_events: int
    dap_total_gym2: float
    dose_rp_total_gy: float
    fluoro_dap_total_gym2: float
    acquisition_dap_total_gym2: float
    dap_total_reported_gym2: float | None
    dose_rp_total_reported_gy: float | None
    fluoro_dap_total_reported_gym2: float | None
    acquisition_dap_total_reported_gym2: float | None
    total_fluoro_time_reported_s: float | None
    total_acquisition_time_reported_s: float | None
    dap_matches: bool | None
    dose_rp_matches: bool | None


@dataclass(frozen=True, slots=True)
class ProjectionStudyEvents:
    """All unique projection X-ray events of one study, with the totals checks."""

    study_instance_uid: str
    reports: tuple[ProjectionXRayRadiationDose, ...]
    events: tuple[UniqueProjectionEvent, ...]
    duplicate_reports: int
    duplicate_events: int
    planes: tuple[PlaneTotals, ...]
    agd_mgy: dict[Laterality, float]  # recomputed from the events, per breast
    agd_reported_mgy: dict[Laterality, float]
    flags: tuple[str, ...]

    @property
    def totals_match(self) -> bool | None:
        checks = [c for p in self.planes for c in (p.dap_matches, p.dose_rp_matches) if c is not None]
        return all(checks) if checks else None


def deduplicate_projection_study(
    study_instance_uid: str, reports: Iterable[ProjectionXRayRadiationDose]
) -> ProjectionStudyEvents:
    """De-duplicate one study's projection reports and events; recompute and check the totals."""
    unique: dict[str, ProjectionXRayRadiationDose] = {}
    duplicate_reports = 0
    for report in reports:
        if report.sop_instance_uid in unique:
            duplicate_reports += 1
            continue
        unique[report.sop_instance_uid] = report
    ordered = sorted(unique.values(), key=lambda r: (len(r.events), r.sop_instance_uid), reverse=True)
    by_uid: dict[str, tuple[ProjectionIrradiationEventData, ProjectionXRayRadiationDose]] = {}
    seen: dict[str, int] = defaultdict(int)
    without_uid: list[UniqueProjectionEvent] = []
    flags: list[str] = [f"report:{f}" for r in ordered for f in r.flags]
    duplicate_events = 0
    for report in ordered:
        for event in report.events:
            uid = event.irradiation_event_uid
            if uid is None:
                without_uid.append(UniqueProjectionEvent(event, report, 1))
                continue
            seen[uid] += 1
            if uid in by_uid:
                duplicate_events += 1
                kept = by_uid[uid][0]
                if (kept.dose_area_product_gym2, kept.dose_rp_gy) != (
                    event.dose_area_product_gym2,
                    event.dose_rp_gy,
                ):
                    flags.append("same_event_uid_different_dose")
                continue
            by_uid[uid] = (event, report)
    if without_uid:
        flags.append("events_without_uid_kept")
    events = [UniqueProjectionEvent(e, r, seen[uid]) for uid, (e, r) in by_uid.items()] + without_uid
    events.sort(key=lambda u: (u.event.datetime_started is None, u.event.datetime_started or 0))
    disjoint = _disjoint(ordered)
    planes = tuple(_plane_totals(plane, events, ordered, disjoint) for plane in _planes(ordered))
    for totals in planes:
        if totals.dap_matches is False:
            flags.append(f"total_mismatch:dap:{totals.plane}")
        if totals.dose_rp_matches is False:
            flags.append(f"total_mismatch:dose_rp:{totals.plane}")
    agd = {
        side: math.fsum(
            u.event.average_glandular_dose_mgy or 0.0 for u in events if u.event.laterality is side
        )
        for side in (Laterality.LEFT, Laterality.RIGHT)
        if any(u.event.laterality is side and u.event.average_glandular_dose_mgy is not None for u in events)
    }
    agd_reported: dict[Laterality, float] = {}
    for side in (Laterality.LEFT, Laterality.RIGHT):
        stated = [a.agd_mgy(side) for r in ordered for a in r.accumulated]
        values = [v for v in stated if v is not None]
        if values:
            agd_reported[side] = math.fsum(values) if disjoint and len(ordered) > 1 else max(values)
    return ProjectionStudyEvents(
        study_instance_uid=study_instance_uid,
        reports=tuple(ordered),
        events=tuple(events),
        duplicate_reports=duplicate_reports,
        duplicate_events=duplicate_events,
        planes=planes,
        agd_mgy=agd,
        agd_reported_mgy=agd_reported,
        flags=tuple(dict.fromkeys(flags)),
    )


def _planes(reports: list[ProjectionXRayRadiationDose]) -> list[AcquisitionPlane]:
    found = {p for r in reports for p in r.planes}
    return [p for p in AcquisitionPlane if p in found]


def _plane_totals(
    plane: AcquisitionPlane,
    events: list[UniqueProjectionEvent],
    reports: list[ProjectionXRayRadiationDose],
    disjoint: bool,
) -> PlaneTotals:
    mine = [u.event for u in events if plane_of(u.event.acquisition_plane) is plane]
    fluoro = [e for e in mine if e.event_type is IrradiationEventType.FLUOROSCOPY]
    acquisition = [e for e in mine if e.event_type is not IrradiationEventType.FLUOROSCOPY]
    stated = [a for r in reports for a in r.accumulated if plane_of(a.acquisition_plane) is plane]
    combine = len(reports) > 1 and disjoint

    def reported(pick: Callable[[ProjectionAccumulatedDoseData], float | None]) -> float | None:
        values = [v for v in (pick(a) for a in stated) if v is not None]
        if not values:
            return None
        return math.fsum(values) if combine else max(values)

    dap = math.fsum(e.dose_area_product_gym2 or 0.0 for e in mine)
    dose_rp = math.fsum(e.dose_rp_gy or 0.0 for e in mine)
    dap_reported = reported(lambda a: a.dose_area_product_total_gym2)
    rp_reported = reported(lambda a: a.dose_rp_total_gy)
    with_rp = [e for e in mine if e.dose_rp_gy is not None]
    return PlaneTotals(
        plane=plane,
        n_events=len(mine),
        dap_total_gym2=round(dap, 12),
        dose_rp_total_gy=round(dose_rp, 9),
        fluoro_dap_total_gym2=round(math.fsum(e.dose_area_product_gym2 or 0.0 for e in fluoro), 12),
        acquisition_dap_total_gym2=round(math.fsum(e.dose_area_product_gym2 or 0.0 for e in acquisition), 12),
        dap_total_reported_gym2=dap_reported,
        dose_rp_total_reported_gy=rp_reported,
        fluoro_dap_total_reported_gym2=reported(lambda a: a.fluoro_dose_area_product_total_gym2),
        acquisition_dap_total_reported_gym2=reported(lambda a: a.acquisition_dose_area_product_total_gym2),
        total_fluoro_time_reported_s=reported(lambda a: a.total_fluoro_time_s),
        total_acquisition_time_reported_s=reported(lambda a: a.total_acquisition_time_s),
        dap_matches=totals_match(dap, dap_reported, len(mine), DAP_ROUNDING_GYM2)
        if any(e.dose_area_product_gym2 is not None for e in mine)
        else None,
        # A report that states a dose at RP total but no event dose at RP (radiography systems without
        # the estimate) has nothing to compare.
        dose_rp_matches=totals_match(dose_rp, rp_reported, len(mine), DOSE_RP_ROUNDING_GY)
        if with_rp
        else None,
    )


def _disjoint(reports: list[ProjectionXRayRadiationDose]) -> bool:
    """True when no irradiation event appears in more than one report (continued-procedure reports)."""
    seen: set[str] = set()
    for report in reports:
        uids = {e.irradiation_event_uid for e in report.events if e.irradiation_event_uid}
        if seen & uids:
            return False
        seen |= uids
    return True
