"""Dose results as markdown for asset metadata: where an operator reads them, in the Dagster UI.

Distributions (median, interquartile range, maximum) of a partition's dose quantities, the DRL audit's
exceeding examinations and the patients nearest the cumulative-dose threshold. Keys are research-zone
pseudonyms (study UIDs, patient pseudonyms), never source identifiers. Long tables are cut at
``MAX_ROWS`` with the number left out and the warehouse table that holds them all.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from resources.dose.dose_rows import PatientCumulativeDoseRow
from resources.dose.drl import AuditStudy, DrlAudit

MAX_ROWS = 25


@dataclass(frozen=True, slots=True)
class Distribution:
    n: int
    median: float
    q1: float
    q3: float
    maximum: float

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "median": round(self.median, 3),
            "q1": round(self.q1, 3),
            "q3": round(self.q3, 3),
            "iqr": round(self.q3 - self.q1, 3),
            "max": round(self.maximum, 3),
        }


def distribution(values: Iterable[float | None]) -> Distribution | None:
    """Median, quartiles (inclusive method: the sample is the population audited) and maximum."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    if len(data) == 1:
        return Distribution(1, data[0], data[0], data[0], data[0])
    q1, median, q3 = statistics.quantiles(data, n=4, method="inclusive")
    return Distribution(len(data), median, q1, q3, data[-1])


def distributions_markdown(quantities: Mapping[str, Iterable[float | None]]) -> str:
    """One row per quantity (label -> values): n, median, Q1-Q3, IQR, max."""
    lines = ["| Quantity | n | median | Q1 | Q3 | IQR | max |", "|---|---|---|---|---|---|---|"]
    for label, values in quantities.items():
        d = distribution(values)
        if d is None:
            lines.append(f"| {label} | 0 | - | - | - | - | - |")
            continue
        lines.append(
            f"| {label} | {d.n} | {d.median:.2f} | {d.q1:.2f} | {d.q3:.2f} | {d.q3 - d.q1:.2f} | "
            f"{d.maximum:.2f} |"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _more(total: int, table: str) -> list[str]:
    if total <= MAX_ROWS:
        return []
    return ["", f"... and {total - MAX_ROWS} more (all in the `{table}` table)"]


def exceeding_markdown(result: DrlAudit, studies: Mapping[str, AuditStudy]) -> str:
    """Examinations above the DRL: pseudonymised study, exam, device, period, value against the DRL."""
    rows: list[str] = []
    for group in result.groups:
        for uid in group.exceeding_study_uids:
            study = studies[uid]
            rows.append(
                f"| {uid} | {group.examination} | {group.device} | {group.period} | "
                f"{_fmt(study.ctdivol_mgy)} | {_fmt(group.drl_ctdivol_mgy)} | "
                f"{_fmt(study.dlp_mgycm)} | {_fmt(group.drl_dlp_mgycm)} |"
            )
    if not rows:
        return "_no examination above the DRL_"
    header = [
        "| Study (pseudonymised UID) | Examination | Device | Period | CTDIvol (mGy) | DRL CTDIvol "
        "| DLP (mGy cm) | DRL DLP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows[:MAX_ROWS] + _more(len(rows), "drl_exceeding_exam"))


def nearest_threshold_markdown(rows: Sequence[PatientCumulativeDoseRow]) -> str:
    """Patients nearest the cumulative-dose threshold (highest rolling sum first), per window."""
    ranked = sorted(rows, key=lambda r: (-r.max_rolling_msv / r.threshold_msv, r.patient_pseudonym))
    if not ranked:
        return "_no patient with an effective dose_"
    lines = [
        "| Patient (pseudonym) | Window (years) | Highest rolling sum (mSv) | Threshold (mSv) | Share "
        "| Studies | Without dose | Alert |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ranked[:MAX_ROWS]:
        lines.append(
            f"| {r.patient_pseudonym} | {r.window_years} | {r.max_rolling_msv:.1f} | {r.threshold_msv:.0f} | "
            f"{r.max_rolling_msv / r.threshold_msv:.0%} | {r.n_studies} | {r.studies_without_dose} | "
            f"{'**yes**' if r.alert else 'no'} |"
        )
    return "\n".join(lines + _more(len(ranked), "patient_cumulative_dose"))
