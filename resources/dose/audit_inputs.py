"""What the whole-warehouse dose reports read: per-study doses with canonical device and source date.

One SQL query per report, streamed: each study of ``study_dose`` with its partition key (the source
calendar day, unshifted) and the curated canonical device of its CT series (``device.station_canonical``
through ``series.device_key``, in the same partition). A scanner that writes its manufacturer four ways
appears in the dose reports under four labels; the curation's station mapping gives it one name. Where
the curation tables are absent (a dose-only warehouse) or name no station, the dose report's label is
kept.

The patient's weight, which places a study in the weight band of paediatric reference levels (RP 185
body), is the curated study's ``patient_weight_kg`` (revision 0009) in the same partition; where the
curation has no such column (a dose-only warehouse, or one not yet upgraded) it is unknown, and the
audit says so for every weight-banded study.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from resources.warehouse.store import Warehouse

_STUDIES = """
    SELECT sd.study_instance_uid, sd.partition_key, sd.device, sd.drl_category, sd.exam_name,
           sd.patient_age_years, sd.ctdivol_diagnostic_mean_mgy, sd.dlp_total_mgycm,
           ctx.unmapped_name,
           {canonical} AS canonical_device,
           {weight} AS patient_weight_kg
    FROM study_dose sd
    LEFT JOIN dose_study_context ctx
      ON ctx.study_instance_uid = sd.study_instance_uid AND ctx.partition_key = sd.partition_key
    ORDER BY sd.partition_key, sd.study_instance_uid
"""
# The station of the study's CT series, as the curation's station mapping names it.
_CANONICAL = """(SELECT min(d.station_canonical) FROM series s
              JOIN device d ON d.device_key = s.device_key AND d.partition_key = s.partition_key
             WHERE s.study_instance_uid = sd.study_instance_uid AND s.partition_key = sd.partition_key
               AND s.modality = 'CT')"""
# The curated study's weight: one study row per partition, as de-identified.
_WEIGHT = """(SELECT max(st.patient_weight_kg) FROM study st
             WHERE st.study_instance_uid = sd.study_instance_uid AND st.partition_key = sd.partition_key)"""


@dataclass(frozen=True, slots=True)
class ReportStudy:
    """One study as the whole-warehouse reports read it."""

    study_instance_uid: str
    source_date: str  # the partition key: ISO date of the source calendar
    device: str  # canonical device, else the dose report's label
    device_label: str  # the dose report's own label
    drl_category: str | None
    exam_name: str | None
    unmapped_name: str | None
    patient_age_years: float | None
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    patient_weight_kg: float | None = None  # curated, as de-identified; None where unknown


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def report_studies(warehouse: Warehouse) -> Iterator[ReportStudy]:
    """Every study of ``study_dose`` with canonical device and source date, streamed from the database."""
    tables = set(warehouse.table_names())
    canonical = _CANONICAL if {"series", "device"} <= tables else "NULL"
    weight = _WEIGHT if "study" in tables and _has_column(warehouse, "study", "patient_weight_kg") else "NULL"
    sql = _STUDIES.format(canonical=canonical, weight=weight)
    with warehouse.engine.connect() as con:
        result = con.execution_options(stream_results=True).execute(sa.text(sql))
        for row in result:
            label = row.device or "unknown device"
            yield ReportStudy(
                study_instance_uid=row.study_instance_uid,
                source_date=str(row.partition_key),
                device=row.canonical_device or label,
                device_label=label,
                drl_category=row.drl_category,
                exam_name=row.exam_name,
                unmapped_name=row.unmapped_name,
                patient_age_years=_float(row.patient_age_years),
                ctdivol_mgy=_float(row.ctdivol_diagnostic_mean_mgy),
                dlp_mgycm=_float(row.dlp_total_mgycm),
                patient_weight_kg=_float(row.patient_weight_kg),
            )


def _has_column(warehouse: Warehouse, table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(warehouse.engine).get_columns(table))


def is_source_date(text: str) -> bool:
    """Whether a partition key is a calendar date (report partitions such as ``all`` are not)."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
