"""The whole-warehouse dose reports as rows: the DRL audit and the per-patient cumulative dose.

Both read every study of the warehouse (not one partition): :func:`drl_audit_tables` groups the studies'
doses per DRL category, canonical device and source period (:mod:`resources.dose.drl`, the studies read
by :mod:`resources.dose.audit_inputs`); :func:`cumulative_rows` sums
effective dose per patient over rolling windows (:mod:`resources.dose.cumulative`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resources.dose.audit_inputs import ReportStudy, is_source_date
from resources.dose.cumulative import PatientStudyDose, cumulative_doses
from resources.dose.dose_rows import (
    DrlAuditGroupRow,
    DrlExceedingExamRow,
    DrlUnmappedNameRow,
    PatientCumulativeDoseRow,
    StudyEffectiveDoseRow,
)
from resources.dose.drl import AuditStudy, DrlSet, audit, medians_markdown
from resources.dose.report_markdown import exceeding_markdown

ADULT_AGE_YEARS = 18.0


def _child(age_years: float | None) -> bool:
    """National CT DRLs are adult levels: known paediatric studies stay out of the audit."""
    return age_years is not None and float(age_years) < ADULT_AGE_YEARS


@dataclass
class DrlAuditTables:
    """The DRL audit's rows for the three report tables, its medians table and its plot points."""

    rows: list[DrlAuditGroupRow]
    exceeding: list[DrlExceedingExamRow]
    unmapped: list[DrlUnmappedNameRow]
    markdown: str
    plot_points: list[tuple[str, float, float | None]]  # (examination, study DLP, DRL DLP)
    exceeding_markdown: str = ""


def drl_audit_tables(
    studies: Iterable[ReportStudy], drl_set: DrlSet, period: str = "month"
) -> DrlAuditTables:
    """The DRL audit over every study in the warehouse, as rows for the report tables.

    Groups are per DRL category, canonical device and source period (the partition's date coarsened
    to ``period``). Studies of patients known to be under 18 are left out unless the set has levels
    banded by age or weight (the national CT sets are adult DRLs); studies of unknown age stay in.
    """
    banded = bool(drl_set.bands)
    audit_studies = [
        AuditStudy(
            study_instance_uid=s.study_instance_uid,
            device=s.device,
            source_date=s.source_date,
            category=s.drl_category,
            exam_name=s.unmapped_name or s.exam_name,
            ctdivol_mgy=s.ctdivol_mgy,
            dlp_mgycm=s.dlp_mgycm,
            device_label=s.device_label,
            age_years=s.patient_age_years,
            weight_kg=s.patient_weight_kg,
        )
        for s in studies
        if is_source_date(s.source_date) and (banded or not _child(s.patient_age_years))
    ]
    result = audit(audit_studies, drl_set, period)
    by_uid = {s.study_instance_uid: s for s in audit_studies}
    rows = [
        DrlAuditGroupRow(
            drl_set=g.drl_set,
            category=g.category[:64],
            examination=g.examination[:128],
            device=g.device[:128],
            period=g.period,
            n_studies=g.n_studies,
            median_ctdivol_mgy=g.median_ctdivol_mgy,
            median_dlp_mgycm=g.median_dlp_mgycm,
            drl_ctdivol_mgy=g.drl_ctdivol_mgy,
            drl_dlp_mgycm=g.drl_dlp_mgycm,
            median_ctdivol_exceeds=g.median_ctdivol_exceeds,
            median_dlp_exceeds=g.median_dlp_exceeds,
            n_exceeding=len(g.exceeding_study_uids),
            device_labels=g.device_labels,
        )
        for g in result.groups
    ]
    exceeding = [
        DrlExceedingExamRow(
            drl_set=g.drl_set,
            category=g.category[:64],
            device=g.device[:128],
            period=g.period,
            study_instance_uid=uid,
            ctdivol_mgy=by_uid[uid].ctdivol_mgy,
            dlp_mgycm=by_uid[uid].dlp_mgycm,
        )
        for g in result.groups
        for uid in g.exceeding_study_uids
    ]
    unmapped = [
        DrlUnmappedNameRow(name=name[:128], n_studies=n) for name, n in sorted(result.unmapped_names.items())
    ]
    points: list[tuple[str, float, float | None]] = []
    for s in audit_studies:
        category = drl_set.category_of(s.category, s.exam_name)
        level = drl_set.level_for(category, s.age_years, s.weight_kg) if category else None
        if level is not None and s.dlp_mgycm is not None:
            points.append((level.examination, s.dlp_mgycm, level.dlp_mgycm))
    return DrlAuditTables(
        rows, exceeding, unmapped, medians_markdown(result), points, exceeding_markdown(result, by_uid)
    )


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def cumulative_rows(
    studies: Sequence[StudyEffectiveDoseRow],
    windows_years: Sequence[int],
    threshold_msv: float,
    factor_set: str,
) -> list[PatientCumulativeDoseRow]:
    """Rolling-window cumulative effective dose per patient, as report rows."""
    entries = [
        PatientStudyDose(
            s.patient_pseudonym, s.study_instance_uid, _as_date(s.study_date), s.effective_dose_msv
        )
        for s in studies
        if s.patient_pseudonym and s.study_date is not None
    ]
    return [
        PatientCumulativeDoseRow(
            patient_pseudonym=c.patient_pseudonym,
            window_years=c.window_years,
            factor_set=factor_set,
            n_studies=c.n_studies,
            studies_without_dose=c.studies_without_dose,
            max_rolling_msv=c.max_rolling_msv,
            max_window_start=c.max_window_start,
            max_window_end=c.max_window_end,
            current_msv=c.current_msv,
            threshold_msv=c.threshold_msv,
            alert=c.alert,
        )
        for c in cumulative_doses(entries, windows_years, threshold_msv)
    ]
