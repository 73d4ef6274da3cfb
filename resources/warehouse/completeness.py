"""Completeness and flag summaries of one partition, for the curation asset checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from resources.warehouse.store import Warehouse

# Fields whose completeness the checks report, per table.
COMPLETENESS_FIELDS: dict[str, tuple[str, ...]] = {
    "study": ("study_date", "patient_pseudonym", "exam_name", "body_region_code", "patient_age_years"),
    "series": ("modality", "device_key", "body_part_examined", "protocol_name"),
    "ct_acquisition": ("ctdivol_mgy", "kvp", "tube_current_ma", "exposure_mas", "slice_thickness_mm"),
    "mg_exposure": (
        "organ_dose_mgy",
        "body_part_thickness_mm",
        "compression_force_n",
        "kvp",
        "view_position",
    ),
    "device": ("manufacturer", "model_name", "station_canonical", "institution_canonical"),
}
# The dose completeness rule measures CTDIvol where a scanner must write it: on the images of axial
# and helical acquisitions. Localiser images (Image Type value 3 LOCALIZER) carry none on most scanners
# (their dose is in the dose report, if anywhere), so counting them made the check warn on every day.
DIAGNOSTIC_CTDIVOL = "ct_acquisition.ctdivol_mgy[axial/helical]"
_NOT_LOCALIZER = "upper(coalesce(i.image_type, '')) NOT LIKE '%LOCALIZER%'"
# Fields every instance needs; below MIN_CORE_COMPLETENESS the partition is catastrophically incomplete.
CORE_FIELDS = ("sop_class_uid", "modality")
MIN_CORE_COMPLETENESS = 0.5


@dataclass
class PartitionHealth:
    instances: int
    studies: int
    core_completeness: float
    study_date_completeness: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def field_completeness(warehouse: Warehouse, partition_key: str) -> dict[str, float | None]:
    """``table.field`` -> share of the partition's rows where the field is set (None: no rows)."""
    result: dict[str, float | None] = {}
    with warehouse.engine.connect() as con:
        for table, fields in COMPLETENESS_FIELDS.items():
            counts = ", ".join(f"count({name})" for name in fields)
            row = con.execute(
                sa.text(f"SELECT count(*), {counts} FROM {table} WHERE partition_key = :pk"),
                {"pk": partition_key},
            ).one()
            total = int(row[0])
            for name, filled in zip(fields, row[1:], strict=True):
                result[f"{table}.{name}"] = round(int(filled) / total, 4) if total else None
        total, filled = con.execute(
            sa.text(
                "SELECT count(*), count(c.ctdivol_mgy) FROM ct_acquisition c "
                "JOIN instance i ON i.sop_instance_uid = c.sop_instance_uid "
                f"WHERE c.partition_key = :pk AND {_NOT_LOCALIZER}"
            ),
            {"pk": partition_key},
        ).one()
        result[DIAGNOSTIC_CTDIVOL] = round(int(filled) / int(total), 4) if total else None
    return result


def device_completeness(warehouse: Warehouse, partition_key: str) -> dict[str, dict[str, float]]:
    """Per canonical station: share of axial/helical CT images (localisers left out) with CTDIvol and of
    MG images with organ dose."""
    sql = f"""
        SELECT coalesce(d.station_canonical, '(unknown)') AS station,
               count(c.sop_instance_uid) AS ct_images, count(c.ctdivol_mgy) AS ct_with_ctdivol,
               count(m.sop_instance_uid) AS mg_images, count(m.organ_dose_mgy) AS mg_with_dose
        FROM instance i
        JOIN series s ON s.series_instance_uid = i.series_instance_uid
        LEFT JOIN device d ON d.device_key = s.device_key AND d.partition_key = i.partition_key
        LEFT JOIN ct_acquisition c ON c.sop_instance_uid = i.sop_instance_uid AND {_NOT_LOCALIZER}
        LEFT JOIN mg_exposure m ON m.sop_instance_uid = i.sop_instance_uid
        WHERE i.partition_key = :pk
        GROUP BY coalesce(d.station_canonical, '(unknown)')
        ORDER BY 1
    """
    out: dict[str, dict[str, float]] = {}
    with warehouse.engine.connect() as con:
        rows = con.execute(sa.text(sql), {"pk": partition_key}).all()
    for station, ct_images, ct_with_ctdivol, mg_images, mg_with_dose in rows:
        entry: dict[str, float] = {}
        if ct_images:
            entry["ct_ctdivol"] = round(int(ct_with_ctdivol) / int(ct_images), 4)
        if mg_images:
            entry["mg_organ_dose"] = round(int(mg_with_dose) / int(mg_images), 4)
        out[str(station)] = entry
    return out


def flag_counts(warehouse: Warehouse, partition_key: str) -> dict[str, dict[str, int]]:
    """``severity`` -> ``rule`` -> number of flags in the partition."""
    with warehouse.engine.connect() as con:
        rows = con.execute(
            sa.text(
                "SELECT severity, rule, count(*) AS n FROM quality_flag WHERE partition_key = :pk "
                "GROUP BY severity, rule ORDER BY severity, rule"
            ),
            {"pk": partition_key},
        ).all()
    out: dict[str, dict[str, int]] = {}
    for severity, rule, count in rows:
        out.setdefault(str(severity), {})[str(rule)] = int(count)
    return out


def partition_health(warehouse: Warehouse, partition_key: str, *, expected_files: int) -> PartitionHealth:
    """Whether the partition is usable at all: not empty, not catastrophically incomplete."""
    with warehouse.engine.connect() as con:
        counts = ", ".join(f"count({name})" for name in CORE_FIELDS)
        row = con.execute(
            sa.text(f"SELECT count(*), {counts} FROM instance WHERE partition_key = :pk"),
            {"pk": partition_key},
        ).one()
        studies, dated = con.execute(
            sa.text("SELECT count(*), count(study_date) FROM study WHERE partition_key = :pk"),
            {"pk": partition_key},
        ).one()
    instances = int(row[0])
    core = min((int(v) / instances for v in row[1:]), default=0.0) if instances else 0.0
    dated_share = int(dated) / int(studies) if studies else 0.0
    health = PartitionHealth(instances, int(studies), round(core, 4), round(dated_share, 4))
    if instances == 0:
        health.problems.append("the partition has no curated instances")
    else:
        if core < MIN_CORE_COMPLETENESS:
            health.problems.append(f"only {core:.0%} of instances carry SOP class and modality")
        if dated_share < MIN_CORE_COMPLETENESS:
            health.problems.append(f"only {dated_share:.0%} of studies carry a study date")
        if expected_files and instances < MIN_CORE_COMPLETENESS * expected_files:
            health.problems.append(f"{instances} instances curated from {expected_files} de-identified files")
    return health
