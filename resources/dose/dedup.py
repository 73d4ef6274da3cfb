"""Several dose SRs for one study: de-duplicate reports and events, recompute and compare totals.

Siemens scanners send a cumulative RDSR after each acquisition (each holding all earlier events) and
"continued study" RDSRs holding new events. The same file may also arrive twice. The rule:

1. de-duplicate reports by SOP Instance UID;
2. de-duplicate events by Irradiation Event UID (an event without a UID is kept as unique, flagged);
3. recompute the study's DLP total from the unique events and compare it with the largest total that
   any report of the study states; a difference beyond rounding is flagged, never hidden.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from resources.dose.rdsr.ct_irradiation_event_data import CTIrradiationEventData
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose

# Reports round totals to 2 decimals (some to 1); anything beyond half a unit of the last digit
# across a study of tens of events is a real disagreement.
TOTAL_TOLERANCE_MGYCM = 0.05


@dataclass(frozen=True, slots=True)
class UniqueEvent:
    """An irradiation event once, with the report it was taken from."""

    event: CTIrradiationEventData
    report: CTRadiationDose
    seen_in_reports: int


@dataclass(frozen=True, slots=True)
class StudyDoseEvents:
    """All unique CT irradiation events of one study, with the totals check."""

    study_instance_uid: str
    reports: tuple[CTRadiationDose, ...]
    events: tuple[UniqueEvent, ...]
    duplicate_reports: int
    duplicate_events: int
    dlp_total_recomputed: float
    dlp_total_reported: float | None
    flags: tuple[str, ...]

    @property
    def totals_match(self) -> bool | None:
        if self.dlp_total_reported is None:
            return None
        return abs(self.dlp_total_recomputed - self.dlp_total_reported) <= TOTAL_TOLERANCE_MGYCM


def deduplicate_study(study_instance_uid: str, reports: Iterable[CTRadiationDose]) -> StudyDoseEvents:
    """De-duplicate one study's reports and events and check the totals.

    Parameters
    ----------
    study_instance_uid
        The study the reports belong to.
    reports
        Every CT dose report read for the study, in any order.

    Returns
    -------
    StudyDoseEvents
    """
    unique_reports: dict[str, CTRadiationDose] = {}
    duplicate_reports = 0
    for report in reports:
        if report.sop_instance_uid in unique_reports:
            duplicate_reports += 1
            continue
        unique_reports[report.sop_instance_uid] = report
    # Cumulative reports later in time hold the most complete view of an event: read them first so
    # the kept copy comes from the latest report.
    ordered = sorted(
        unique_reports.values(),
        key=lambda r: (r.accumulated.total_number_of_events or len(r.events), len(r.events)),
        reverse=True,
    )
    by_uid: dict[str, CTIrradiationEventData] = {}
    source: dict[str, CTRadiationDose] = {}
    seen: dict[str, int] = defaultdict(int)
    without_uid: list[UniqueEvent] = []
    flags: list[str] = []
    duplicate_events = 0
    for report in ordered:
        for event in report.events:
            uid = event.irradiation_event_uid
            if uid is None:
                without_uid.append(UniqueEvent(event, report, 1))
                continue
            seen[uid] += 1
            if uid in by_uid:
                duplicate_events += 1
                if (by_uid[uid].dlp_mgycm, by_uid[uid].ctdivol_mgy) != (event.dlp_mgycm, event.ctdivol_mgy):
                    flags.append("same_event_uid_different_dose")
                continue
            by_uid[uid] = event
            source[uid] = report
    if without_uid:
        flags.append("events_without_uid_kept")
    events = [UniqueEvent(event, source[uid], seen[uid]) for uid, event in by_uid.items()] + without_uid
    events.sort(
        key=lambda u: (u.event.start_datetime is None, u.event.start_datetime or 0, u.report.sop_instance_uid)
    )
    recomputed = math.fsum(u.event.dlp_mgycm for u in events if u.event.dlp_mgycm is not None)
    reported_totals = [
        r.accumulated.dlp_total_mgycm for r in ordered if r.accumulated.dlp_total_mgycm is not None
    ]
    reported: float | None
    if not reported_totals:
        reported = None
        flags.append("no_reported_total")
    elif len(ordered) > 1 and _disjoint(ordered):
        # "Continued" reports each total only their own events: the study total is their sum.
        reported = math.fsum(reported_totals)
    else:
        reported = max(reported_totals)
    if reported is not None and abs(recomputed - reported) > TOTAL_TOLERANCE_MGYCM:
        flags.append("total_mismatch")
    return StudyDoseEvents(
        study_instance_uid=study_instance_uid,
        reports=tuple(ordered),
        events=tuple(events),
        duplicate_reports=duplicate_reports,
        duplicate_events=duplicate_events,
        dlp_total_recomputed=round(recomputed, 6),
        dlp_total_reported=reported,
        flags=tuple(dict.fromkeys(flags)),
    )


def _disjoint(reports: list[CTRadiationDose]) -> bool:
    """True when no irradiation event appears in more than one report (continued-study reports)."""
    seen: set[str] = set()
    for report in reports:
        uids = {e.irradiation_event_uid for e in report.events if e.irradiation_event_uid}
        if seen & uids:
            return False
        seen |= uids
    return True


def group_by_study(reports: Iterable[CTRadiationDose]) -> dict[str, list[CTRadiationDose]]:
    """Reports grouped by Study Instance UID (order of first appearance)."""
    grouped: dict[str, list[CTRadiationDose]] = {}
    for report in reports:
        grouped.setdefault(report.study_instance_uid, []).append(report)
    return grouped
