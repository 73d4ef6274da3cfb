"""Fluoroscopy and interventional: each patient's cumulative DAP and dose at RP over a rolling window.

For every fluoroscopy study, the patient's DAP and dose at the reference point summed over the studies
in the window ending on its study date (12 weeks by default, as OpenREM's), against the site's alert
thresholds (defaults DAP 20,000 cGy.cm2 and dose at RP 2 Gy, as OpenREM's). Dose at RP is summed per
plane (A or single, B) and the larger plane is what the threshold is held against: the two planes'
reference points lie on different skin. Aggregated in SQL (a self-join on a day number, the same on
SQLite and PostgreSQL), never by loading every study.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from resources.dose.projection_rows import FluoroscopyCumulativeDoseRow
from resources.warehouse.store import Warehouse

CGYCM2_PER_GYM2 = 1e6  # 1 Gy.m2 = 100 cGy x 10,000 cm2

_ROLLING = """
SELECT s.patient_pseudonym, s.study_instance_uid, s.study_date,
       COUNT(w.id) AS n_studies_in_window,
       COALESCE(SUM(w.dap_total_gym2), 0) AS dap_cumulative_gym2,
       COALESCE(SUM(w.dose_rp_total_a_gy), 0) AS dose_rp_cumulative_a_gy,
       COALESCE(SUM(w.dose_rp_total_b_gy), 0) AS dose_rp_cumulative_b_gy
FROM projection_study_dose s
JOIN projection_study_dose w
  ON w.patient_pseudonym = s.patient_pseudonym
 AND w.is_fluoroscopy = :yes
 AND w.study_day BETWEEN s.study_day - :days AND s.study_day
WHERE s.is_fluoroscopy = :yes AND s.patient_pseudonym IS NOT NULL AND s.study_day IS NOT NULL
GROUP BY s.patient_pseudonym, s.study_instance_uid, s.study_date
ORDER BY s.patient_pseudonym, s.study_date, s.study_instance_uid
"""


def cumulative_rows(
    warehouse: Warehouse, window_weeks: int, dap_alert_cgycm2: float, dose_rp_alert_gy: float
) -> list[FluoroscopyCumulativeDoseRow]:
    """One row per fluoroscopy study: the patient's window totals and whether they reach a threshold.

    A study de-duplicated into two partitions (the same Study Instance UID on two dates) counts once per
    partition: partitions are study dates, so that cannot happen for one study.
    """
    # The window includes its end day and reaches back window_weeks x 7 days.
    frame = warehouse.read_frame(_ROLLING, {"days": window_weeks * 7, "yes": True})
    dap_threshold = dap_alert_cgycm2 / CGYCM2_PER_GYM2
    rows = []
    for record in frame.to_dict("records"):
        dap = _number(record["dap_cumulative_gym2"])
        rp_a, rp_b = _number(record["dose_rp_cumulative_a_gy"]), _number(record["dose_rp_cumulative_b_gy"])
        rp = max(rp_a, rp_b)
        study_date = record["study_date"]
        rows.append(
            FluoroscopyCumulativeDoseRow(
                patient_pseudonym=str(record["patient_pseudonym"]),
                study_instance_uid=str(record["study_instance_uid"]),
                study_date=_date(study_date),
                window_weeks=window_weeks,
                n_studies_in_window=int(record["n_studies_in_window"]),
                dap_cumulative_gym2=dap,
                dose_rp_cumulative_a_gy=rp_a,
                dose_rp_cumulative_b_gy=rp_b,
                dap_threshold_gym2=dap_threshold,
                dose_rp_threshold_gy=dose_rp_alert_gy,
                dap_alert=dap >= dap_threshold,
                dose_rp_alert=rp >= dose_rp_alert_gy,
                fraction_of_threshold=max(dap / dap_threshold, rp / dose_rp_alert_gy),
            )
        )
    return rows


def _number(value: Any) -> float:
    number = float(value) if value is not None else 0.0
    return 0.0 if math.isnan(number) else number


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()
    return dt.date.fromisoformat(str(value)[:10])


_TOP_SQL = """
SELECT patient_pseudonym,
       MAX(fraction_of_threshold) AS fraction_of_threshold,
       MAX(dap_cumulative_gym2) AS dap_cumulative_gym2,
       MAX(CASE WHEN dose_rp_cumulative_a_gy > dose_rp_cumulative_b_gy
                THEN dose_rp_cumulative_a_gy ELSE dose_rp_cumulative_b_gy END) AS dose_rp_cumulative_gy,
       MAX(n_studies_in_window) AS n_studies_in_window,
       MAX(CASE WHEN dap_alert OR dose_rp_alert THEN 1 ELSE 0 END) AS in_alert,
       MAX(study_date) AS last_study_date
FROM fluoroscopy_cumulative_dose
GROUP BY patient_pseudonym
ORDER BY MAX(fraction_of_threshold) DESC, patient_pseudonym
LIMIT :limit
"""


def alert_markdown(warehouse: Warehouse, limit: int = 20) -> tuple[int, str]:
    """``(patients in alert, markdown table)`` of the patients in alert or nearest the thresholds.

    Pseudonyms only (research-zone keys); aggregated in SQL over the cumulative table.
    """
    in_alert = warehouse.read_frame(
        "SELECT COUNT(DISTINCT patient_pseudonym) AS n FROM fluoroscopy_cumulative_dose "
        "WHERE dap_alert = :yes OR dose_rp_alert = :yes",
        {"yes": True},
    )
    count = int(in_alert["n"].iloc[0]) if len(in_alert) else 0
    frame = warehouse.read_frame(_TOP_SQL, {"limit": limit})
    if frame.empty:
        return count, "_no fluoroscopy studies with a patient pseudonym_"
    lines = [
        "| patient (pseudonym) | alert | max. share of threshold | DAP (cGy.cm2) | dose at RP (Gy) "
        "| studies in window |",
        "|---|---|---|---|---|---|",
    ]
    for record in frame.to_dict("records"):
        lines.append(
            f"| {record['patient_pseudonym']} | {'yes' if int(record['in_alert']) else 'no'} "
            f"| {float(record['fraction_of_threshold']):.0%} "
            f"| {float(record['dap_cumulative_gym2']) * CGYCM2_PER_GYM2:,.0f} "
            f"| {float(record['dose_rp_cumulative_gy']):.3f} | {int(record['n_studies_in_window'])} |"
        )
    return count, "\n".join(lines)
