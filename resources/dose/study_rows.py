"""A partition's per-study rows, from its events: the CT dose totals and the effective dose.

:func:`study_dose_rows` recomputes each study's DLP total from its unique events and checks it against
the reports' own totals; :func:`effective_dose_rows` gives E per event and per study with a factor set
(the rules in :mod:`resources.dose.effective_dose`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence

from resources.dose.codes import AcquisitionType, BodyRegion, Code, Phantom
from resources.dose.dose_rows import (
    EventEffectiveDoseRow,
    IrradiationEventRow,
    StudyContextRow,
    StudyDoseRow,
    StudyEffectiveDoseRow,
)
from resources.dose.effective_dose import FactorSet, effective_dose_for_event, region_for_event, sum_study

# Event types that are neither localisers nor bolus-tracking monitoring: they make the CTDIvol a DRL
# survey compares.
DIAGNOSTIC_TYPES = {
    AcquisitionType.SPIRAL.value,
    AcquisitionType.SEQUENCED.value,
    AcquisitionType.CONE_BEAM.value,
    AcquisitionType.FREE.value,
}


def _events_by_study(events: Sequence[IrradiationEventRow]) -> dict[str, list[IrradiationEventRow]]:
    by_study: dict[str, list[IrradiationEventRow]] = defaultdict(list)
    for event in events:
        by_study[event.study_instance_uid].append(event)
    return by_study


def study_dose_rows(
    events: Sequence[IrradiationEventRow], contexts: Sequence[StudyContextRow]
) -> list[StudyDoseRow]:
    """Per-study totals from the unique events; compared with the reports' own totals."""
    by_study = _events_by_study(events)
    rows: list[StudyDoseRow] = []
    for context in contexts:
        study_uid = context.study_instance_uid
        study_events = by_study.get(study_uid, [])
        dlps = [e.dlp_mgycm for e in study_events if e.dlp_mgycm is not None]
        total = math.fsum(dlps) if dlps else None
        reported = context.dlp_total_reported_mgycm
        match = None if reported is None or total is None else abs(total - reported) <= 0.05
        diagnostic = [
            e.ctdivol_mgy
            for e in study_events
            if e.ctdivol_mgy is not None
            and (e.acquisition_type in DIAGNOSTIC_TYPES or e.origin == "estimated")
            and "localizer" not in (e.flags or "")
        ]
        flags = [f for f in (context.flags or "").split(",") if f]
        if match is False and "total_mismatch" not in flags:
            flags.append("total_mismatch")
        rows.append(
            StudyDoseRow(
                study_instance_uid=study_uid,
                patient_pseudonym=context.patient_pseudonym,
                study_date=context.study_date,
                patient_age_years=context.patient_age_years,
                device=context.device,
                exam_name=context.exam_name,
                drl_category=context.drl_category,
                body_part_region=context.body_part_region,
                origin="rdsr" if context.has_rdsr else "estimated",
                n_events=len(study_events),
                n_events_with_dose=len(dlps),
                dlp_total_mgycm=total,
                dlp_total_reported_mgycm=reported,
                totals_match=match,
                ctdivol_diagnostic_mean_mgy=statistics.fmean(diagnostic) if diagnostic else None,
                flags=",".join(flags)[:512],
            )
        )
    return rows


def effective_dose_rows(
    events: Sequence[IrradiationEventRow], studies: Sequence[StudyDoseRow], factor_set: FactorSet
) -> tuple[list[EventEffectiveDoseRow], list[StudyEffectiveDoseRow]]:
    """E per event and per study (see :mod:`resources.dose.effective_dose` for the rules)."""
    by_study = _events_by_study(events)
    event_rows: list[EventEffectiveDoseRow] = []
    study_rows: list[StudyEffectiveDoseRow] = []
    for study in studies:
        study_uid = study.study_instance_uid
        body_part = study.body_part_region
        body_region = BodyRegion(body_part) if body_part else None
        results = []
        for event in sorted(by_study.get(study_uid, []), key=lambda e: e.event_index):
            code = event.target_region_code
            target = Code(code, event.target_region_scheme or "") if code else None
            region, method = region_for_event(target, body_region)
            phantom = Phantom(event.phantom) if event.phantom else None
            outcome = effective_dose_for_event(
                event.dlp_mgycm, phantom, region, method, study.patient_age_years, factor_set
            )
            results.append(outcome)
            event_rows.append(
                EventEffectiveDoseRow(
                    study_instance_uid=study_uid,
                    irradiation_event_uid=event.irradiation_event_uid,
                    event_index=event.event_index,
                    dlp_mgycm=outcome.dlp_mgycm,
                    k_msv_per_mgycm=outcome.k,
                    effective_dose_msv=outcome.effective_dose_msv,
                    factor_set=outcome.factor_set,
                    factor_set_edition=outcome.factor_set_edition[:128],
                    region=outcome.region.value if outcome.region else None,
                    region_method=outcome.region_method,
                    age_band=outcome.age_band,
                    age_years=outcome.age_years,
                    method=outcome.method,
                    reason=outcome.reason,
                )
            )
        total = sum_study(results)
        study_rows.append(
            StudyEffectiveDoseRow(
                study_instance_uid=study_uid,
                patient_pseudonym=study.patient_pseudonym,
                study_date=study.study_date,
                factor_set=factor_set.name,
                effective_dose_msv=total.effective_dose_msv,
                effective_dose_partial_msv=total.effective_dose_partial_msv,
                events_with_dose=total.events_with_dose,
                events_without_number=total.events_without_number,
                origin=study.origin or "rdsr",
                reason=total.reason[:512] if total.reason else None,
            )
        )
    return event_rows, study_rows
