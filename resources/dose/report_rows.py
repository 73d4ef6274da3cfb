"""The whole-warehouse dose reports as rows: the DRL audit and the per-patient cumulative dose.

Both read every study of the warehouse (not one partition): :func:`drl_audit_tables` groups the studies'
doses per DRL category, device and period (:mod:`resources.dose.drl`); :func:`cumulative_rows` sums
effective dose per patient over rolling windows (:mod:`resources.dose.cumulative`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from resources.dose.cumulative import PatientStudyDose, cumulative_doses
from resources.dose.dose_rows import (
    DrlAuditGroupRow,
    DrlExceedingExamRow,
    DrlUnmappedNameRow,
    PatientCumulativeDoseRow,
    StudyDoseRow,
    StudyEffectiveDoseRow,
)
from resources.dose.drl import AuditStudy, DrlSet, audit, medians_markdown

ADULT_AGE_YEARS = 18.0


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()[:10]


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


def drl_audit_tables(
    studies: Sequence[StudyDoseRow],
    drl_set: DrlSet,
    period: str = "month",
    unmapped_names: Mapping[str, str | None] | None = None,
) -> DrlAuditTables:
    """The DRL audit over every study in the warehouse, as rows for the report tables.

    Studies of patients known to be under 18 are left out (the national sets are adult DRLs); studies of
    unknown age stay in. ``unmapped_names`` gives, per study UID, the normalised exam name that no DRL
    category is mapped to (from the study contexts); it names the study's examination when present.
    """
    unmapped_by_study = unmapped_names or {}
    audit_studies = [
        AuditStudy(
            study_instance_uid=s.study_instance_uid,
            device=s.device or "unknown device",
            study_date=_iso(s.study_date) or "0000-00-00",
            category=s.drl_category,
            exam_name=unmapped_by_study.get(s.study_instance_uid) or s.exam_name,
            ctdivol_mgy=s.ctdivol_diagnostic_mean_mgy,
            dlp_mgycm=s.dlp_total_mgycm,
        )
        for s in studies
        if s.study_date is not None and not _child(s.patient_age_years)
    ]
    result = audit(audit_studies, drl_set, period)
    by_uid = {s.study_instance_uid: s for s in audit_studies}
    rows = [
        DrlAuditGroupRow(
            drl_set=g.drl_set,
            category=g.category,
            examination=g.examination[:128],
            device=g.device,
            period=g.period,
            n_studies=g.n_studies,
            median_ctdivol_mgy=g.median_ctdivol_mgy,
            median_dlp_mgycm=g.median_dlp_mgycm,
            drl_ctdivol_mgy=g.drl_ctdivol_mgy,
            drl_dlp_mgycm=g.drl_dlp_mgycm,
            median_ctdivol_exceeds=g.median_ctdivol_exceeds,
            median_dlp_exceeds=g.median_dlp_exceeds,
            n_exceeding=len(g.exceeding_study_uids),
        )
        for g in result.groups
    ]
    exceeding = [
        DrlExceedingExamRow(
            drl_set=g.drl_set,
            category=g.category,
            device=g.device,
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
    points = [
        (drl_set.levels[s.category].examination, s.dlp_mgycm, drl_set.levels[s.category].dlp_mgycm)
        for s in audit_studies
        if s.category in drl_set.levels and s.dlp_mgycm is not None
    ]
    return DrlAuditTables(rows, exceeding, unmapped, medians_markdown(result), points)


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
