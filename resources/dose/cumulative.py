"""Cumulative effective dose per (pseudonymised) patient over rolling windows.

For each patient and window length (e.g. 1 and 5 years) the highest sum of study effective doses over any
window ``(d - length, d]`` ending on one of the patient's study dates, and the sum over the window ending
on the reference date. An alert is raised when the highest rolling sum reaches the threshold (the
recurrent-CT literature discusses 100 mSv; Rehani et al., Eur Radiol 2020).

Dates are research-zone dates (shifted per patient by de-identification): shifts are constant within a
patient, so intervals, and therefore windows, are preserved. Studies without an effective dose are
counted (``studies_without_dose``) so a sum that misses studies never passes for complete.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PatientStudyDose:
    patient_pseudonym: str
    study_instance_uid: str
    study_date: dt.date
    effective_dose_msv: float | None


@dataclass(frozen=True, slots=True)
class CumulativeDose:
    patient_pseudonym: str
    window_years: int
    n_studies: int
    studies_without_dose: int
    max_rolling_msv: float
    max_window_start: dt.date
    max_window_end: dt.date
    current_msv: float
    threshold_msv: float
    alert: bool


def _window_start(end: dt.date, years: int) -> dt.date:
    try:
        return end.replace(year=end.year - years)
    except ValueError:  # 29 February
        return end.replace(year=end.year - years, day=28)


def cumulative_doses(
    studies: Iterable[PatientStudyDose],
    windows_years: Sequence[int] = (1, 5),
    threshold_msv: float = 100.0,
    reference_date: dt.date | None = None,
) -> list[CumulativeDose]:
    """Rolling-window sums per patient and window.

    Parameters
    ----------
    studies
        One entry per study (de-duplicate upstream; a study UID seen twice is counted once here).
    windows_years
        Window lengths in years.
    threshold_msv
        Alert threshold on the highest rolling sum.
    reference_date
        End of the "current" window; default: the patient's latest study date.

    Returns
    -------
    list of CumulativeDose
        Sorted by patient then window.
    """
    by_patient: dict[str, dict[str, PatientStudyDose]] = defaultdict(dict)
    for study in studies:
        by_patient[study.patient_pseudonym].setdefault(study.study_instance_uid, study)
    results: list[CumulativeDose] = []
    for patient in sorted(by_patient):
        entries = sorted(by_patient[patient].values(), key=lambda s: s.study_date)
        for years in windows_years:
            best = -1.0
            best_end = entries[-1].study_date
            for end_study in entries:
                start = _window_start(end_study.study_date, years)
                total = math.fsum(
                    s.effective_dose_msv or 0.0
                    for s in entries
                    if start < s.study_date <= end_study.study_date
                )
                if total > best:
                    best, best_end = total, end_study.study_date
            ref = reference_date or entries[-1].study_date
            ref_start = _window_start(ref, years)
            current = math.fsum(
                s.effective_dose_msv or 0.0 for s in entries if ref_start < s.study_date <= ref
            )
            results.append(
                CumulativeDose(
                    patient_pseudonym=patient,
                    window_years=years,
                    n_studies=len(entries),
                    studies_without_dose=sum(1 for s in entries if s.effective_dose_msv is None),
                    max_rolling_msv=best,
                    max_window_start=_window_start(best_end, years),
                    max_window_end=best_end,
                    current_msv=current,
                    threshold_msv=threshold_msv,
                    alert=best >= threshold_msv,
                )
            )
    return results
