"""The exposure rows the breast audits read, as one SQL source with the same columns per origin.

Columns: source, exposure_uid, view (CC | MLO | OTHER), system, site, operator, study_date (the
partition's source study date, not the shifted research-zone date), thickness_mm, force_n,
pressure_kpa, agd_mgy, mgd_mgy, is_2d. Quality-control images (flat fields) are left out.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

logger = logging.getLogger(__name__)

# A system is a model in a room: the canonical station name (curation's mapping) keeps one room's
# spellings together.
SYSTEM_SQL = "COALESCE(model_name, '?') || ' / ' || COALESCE(station_canonical, station_name, '?')"


def view_sql(column: str) -> str:
    return (
        f"CASE WHEN UPPER({column}) IN ('CC', 'RCC', 'LCC', 'CRANIO-CAUDAL') THEN 'CC' "
        f"WHEN UPPER({column}) IN ('MLO', 'RMLO', 'LMLO', 'MEDIO-LATERAL OBLIQUE') THEN 'MLO' "
        "ELSE 'OTHER' END"
    )


HEADER_SOURCE = f"""
    SELECT 'image_header' AS source, sop_instance_uid AS exposure_uid, {view_sql("view_position")} AS view,
           {SYSTEM_SQL} AS system, COALESCE(institution_canonical, institution_name) AS site,
           operator_key AS operator,
           SUBSTR(partition_key, 1, 10) AS study_date, body_part_thickness_mm AS thickness_mm,
           compression_force_n AS force_n, compression_pressure_kpa AS pressure_kpa,
           organ_dose_mgy AS agd_mgy, mgd_mgy, CASE WHEN is_tomosynthesis THEN 0 ELSE 1 END AS is_2d
    FROM header_exposure
    WHERE modality = 'MG' AND counted AND COALESCE(view_position, '') <> 'FLATFIELD'
"""


# Mammography irradiation events of dose SRs (TID 10003 in TID 10001, read by the projection dose
# engine into ``projection_dose_event``): per exposure thickness, force, pressure, AGD. The device is the
# study context's; site and operator are not in a dose SR. A rotational (tomosynthesis) event is not 2D.
RDSR_SOURCE = f"""
    SELECT 'rdsr' AS source,
           COALESCE(e.irradiation_event_uid, e.sr_sop_instance_uid) AS exposure_uid,
           {view_sql("e.view")} AS view, COALESCE(c.device, '?') AS system,
           CAST(NULL AS TEXT) AS site, CAST(NULL AS TEXT) AS operator,
           SUBSTR(e.partition_key, 1, 10) AS study_date, e.compression_thickness_mm AS thickness_mm,
           e.compression_force_n AS force_n, e.compression_pressure_kpa AS pressure_kpa,
           e.average_glandular_dose_mgy AS agd_mgy, CAST(NULL AS FLOAT) AS mgd_mgy,
           CASE WHEN e.event_type = 'rotational_acquisition' THEN 0 ELSE 1 END AS is_2d
    FROM projection_dose_event AS e
    LEFT JOIN projection_study_context AS c
        ON c.study_instance_uid = e.study_instance_uid AND c.partition_key = e.partition_key
    WHERE e.report_kind = 'mammography'
"""
RDSR_COLUMNS = {
    "projection_dose_event": {
        "irradiation_event_uid",
        "sr_sop_instance_uid",
        "view",
        "partition_key",
        "compression_thickness_mm",
        "compression_force_n",
        "compression_pressure_kpa",
        "average_glandular_dose_mgy",
        "event_type",
        "report_kind",
        "study_instance_uid",
    },
    "projection_study_context": {"device", "study_instance_uid", "partition_key"},
}


def _has_rdsr_events(engine: sa.Engine) -> bool:
    inspector = sa.inspect(engine)
    for table, needed in RDSR_COLUMNS.items():
        if not inspector.has_table(table):
            return False
        if not needed <= {c["name"] for c in inspector.get_columns(table)}:
            logger.warning("%s lacks columns the breast audit reads: the dose-SR source is left out", table)
            return False
    return True


def exposure_source_sql(engine: sa.Engine) -> tuple[str, tuple[str, ...]]:
    """The union of every exposure source present in the warehouse, and the names of those sources."""
    parts = [HEADER_SOURCE]
    names = ["image_header"]
    if _has_rdsr_events(engine):
        parts.append(RDSR_SOURCE)
        names.append("rdsr")
    return " UNION ALL ".join(parts), tuple(names)
