"""Per-study projection X-ray dose: totals recomputed in SQL from the unique events, beside the reported.

One aggregate query per partition over ``projection_dose_event`` joined to ``projection_study_context``
(the reports' own totals): DAP summed over every plane, dose at RP per plane (A or single, and B: the two
planes' reference points differ, so their doses are never added), AGD per breast, event and link counts.
Whether the totals match is judged by :func:`resources.dose.projection_dedup.totals_match`, the same
tolerance the de-duplication used.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Mapping
from typing import Any

from resources.dose.projection_dedup import DAP_ROUNDING_GYM2, DOSE_RP_ROUNDING_GY, totals_match
from resources.dose.projection_rows import ProjectionStudyDoseRow
from resources.warehouse.store import Warehouse

_AGGREGATE = """
SELECT c.study_instance_uid, c.patient_pseudonym, c.study_date, c.device, c.modality, c.report_kind,
       c.is_fluoroscopy, c.n_reports, c.n_duplicate_reports, c.n_duplicate_events, c.n_planes,
       c.dap_total_reported_gym2, c.dose_rp_total_reported_a_gy, c.dose_rp_total_reported_b_gy,
       c.total_fluoro_time_reported_s, c.total_acquisition_time_reported_s,
       c.agd_left_reported_mgy, c.agd_right_reported_mgy, c.flags,
       COUNT(e.id) AS n_events,
       SUM(CASE WHEN e.event_type = 'fluoroscopy' THEN 1 ELSE 0 END) AS n_fluoro_events,
       SUM(CASE WHEN e.n_linked_instances > 0 THEN 1 ELSE 0 END) AS n_events_linked,
       SUM(CASE WHEN e.dose_area_product_gym2 IS NOT NULL THEN 1 ELSE 0 END) AS n_with_dap,
       SUM(e.dose_area_product_gym2) AS dap_total_gym2,
       SUM(CASE WHEN e.event_type = 'fluoroscopy' THEN e.dose_area_product_gym2 END) AS fluoro_dap_total_gym2,
       SUM(CASE WHEN e.event_type <> 'fluoroscopy' OR e.event_type IS NULL
                THEN e.dose_area_product_gym2 END) AS acquisition_dap_total_gym2,
       SUM(CASE WHEN e.acquisition_plane <> 'plane_b' THEN e.dose_rp_gy END) AS dose_rp_total_a_gy,
       SUM(CASE WHEN e.acquisition_plane = 'plane_b' THEN e.dose_rp_gy END) AS dose_rp_total_b_gy,
       SUM(CASE WHEN e.acquisition_plane <> 'plane_b' AND e.dose_rp_gy IS NOT NULL
                THEN 1 ELSE 0 END) AS n_rp_a,
       SUM(CASE WHEN e.acquisition_plane = 'plane_b' AND e.dose_rp_gy IS NOT NULL
                THEN 1 ELSE 0 END) AS n_rp_b,
       SUM(CASE WHEN e.laterality = 'left' THEN e.average_glandular_dose_mgy END) AS agd_left_mgy,
       SUM(CASE WHEN e.laterality = 'right' THEN e.average_glandular_dose_mgy END) AS agd_right_mgy
FROM projection_study_context c
LEFT JOIN projection_dose_event e
  ON e.study_instance_uid = c.study_instance_uid AND e.partition_key = c.partition_key
WHERE c.partition_key = :pk
GROUP BY c.study_instance_uid, c.patient_pseudonym, c.study_date, c.device, c.modality, c.report_kind,
         c.is_fluoroscopy, c.n_reports, c.n_duplicate_reports, c.n_duplicate_events, c.n_planes,
         c.dap_total_reported_gym2, c.dose_rp_total_reported_a_gy, c.dose_rp_total_reported_b_gy,
         c.total_fluoro_time_reported_s, c.total_acquisition_time_reported_s,
         c.agd_left_reported_mgy, c.agd_right_reported_mgy, c.flags
ORDER BY c.study_instance_uid
"""


def _clean(value: Any) -> Any:
    """pandas gives NaN / NaT for SQL NULL; rows here speak None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NaTType":
        return None
    return value


def _date(value: Any) -> dt.date | None:
    """A date column as read back: a date (PostgreSQL), ISO text (SQLite) or a pandas Timestamp."""
    value = _clean(value)
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _float(record: Mapping[Hashable, Any], name: str) -> float | None:
    value = _clean(record.get(name))
    return None if value is None else float(value)


def _int(record: Mapping[Hashable, Any], name: str) -> int:
    value = _clean(record.get(name))
    return 0 if value is None else int(value)


def _matches(*checks: bool | None) -> bool | None:
    known = [c for c in checks if c is not None]
    return all(known) if known else None


def projection_study_rows(warehouse: Warehouse, partition_key: str) -> list[ProjectionStudyDoseRow]:
    """The partition's per-study rows, aggregated in SQL from its event and study-context rows."""
    frame = warehouse.read_frame(_AGGREGATE, {"pk": partition_key})
    rows = []
    for record in frame.to_dict("records"):
        n_events = _int(record, "n_events")
        dap = _float(record, "dap_total_gym2")
        rp_a, rp_b = _float(record, "dose_rp_total_a_gy"), _float(record, "dose_rp_total_b_gy")
        study_date = _date(record["study_date"])
        match = _matches(
            totals_match(dap, _float(record, "dap_total_reported_gym2"), n_events, DAP_ROUNDING_GYM2)
            if dap is not None and _int(record, "n_with_dap")
            else None,
            totals_match(rp_a, _float(record, "dose_rp_total_reported_a_gy"), n_events, DOSE_RP_ROUNDING_GY)
            if rp_a is not None and _int(record, "n_rp_a")
            else None,
            totals_match(rp_b, _float(record, "dose_rp_total_reported_b_gy"), n_events, DOSE_RP_ROUNDING_GY)
            if rp_b is not None and _int(record, "n_rp_b")
            else None,
        )
        rows.append(
            ProjectionStudyDoseRow(
                study_instance_uid=str(record["study_instance_uid"]),
                patient_pseudonym=_clean(record["patient_pseudonym"]),
                study_date=study_date,
                study_day=study_date.toordinal() if study_date else None,
                device=_clean(record["device"]),
                modality=_clean(record["modality"]),
                report_kind=str(record["report_kind"]),
                is_fluoroscopy=bool(record["is_fluoroscopy"]),
                n_reports=_int(record, "n_reports"),
                n_duplicate_reports=_int(record, "n_duplicate_reports"),
                n_duplicate_events=_int(record, "n_duplicate_events"),
                n_events=n_events,
                n_fluoro_events=_int(record, "n_fluoro_events"),
                n_planes=_int(record, "n_planes"),
                dap_total_gym2=dap,
                dap_total_reported_gym2=_float(record, "dap_total_reported_gym2"),
                dose_rp_total_a_gy=rp_a,
                dose_rp_total_b_gy=rp_b,
                dose_rp_total_reported_a_gy=_float(record, "dose_rp_total_reported_a_gy"),
                dose_rp_total_reported_b_gy=_float(record, "dose_rp_total_reported_b_gy"),
                fluoro_dap_total_gym2=_float(record, "fluoro_dap_total_gym2"),
                acquisition_dap_total_gym2=_float(record, "acquisition_dap_total_gym2"),
                total_fluoro_time_reported_s=_float(record, "total_fluoro_time_reported_s"),
                total_acquisition_time_reported_s=_float(record, "total_acquisition_time_reported_s"),
                agd_left_mgy=_float(record, "agd_left_mgy"),
                agd_right_mgy=_float(record, "agd_right_mgy"),
                agd_left_reported_mgy=_float(record, "agd_left_reported_mgy"),
                agd_right_reported_mgy=_float(record, "agd_right_reported_mgy"),
                totals_match=match,
                n_events_linked=_int(record, "n_events_linked"),
                flags=str(record["flags"] or ""),
            )
        )
    return rows
