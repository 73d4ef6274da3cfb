"""DRL audit of projection radiography and fluoroscopy: median DAP per exam, canonical device and source
period against a DRL set's ``dap_gycm2`` levels, exceeding examinations listed.

Built on the projection dose tables (:mod:`resources.warehouse.projection_tables`): each study of
``projection_study_dose`` (DAP recomputed from its unique events, Gy.m2 -> Gy.cm2) with its partition
date, the curated exam name / study description (mapped through ``drl_mapping.csv`` to the ``xr_*`` and
``fl_*`` categories) and the canonical device of its series, read in one streamed query. Mammography is
audited by breast thickness elsewhere and is left out here. As for CT, a DRL applies to the median of a
sample; single examinations above it are listed for review.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from resources.dose.drl import DrlMapping, DrlSet, period_of
from resources.warehouse.store import Warehouse

GYM2_TO_GYCM2 = 1.0e4
PROJECTION_PREFIXES = ("xr_", "fl_")

_SQL = """
    SELECT p.study_instance_uid, p.partition_key, p.device, p.modality, p.dap_total_gym2,
           st.exam_name, st.study_description,
           (SELECT min(d.station_canonical) FROM series s
              JOIN device d ON d.device_key = s.device_key AND d.partition_key = s.partition_key
             WHERE s.study_instance_uid = p.study_instance_uid AND s.partition_key = p.partition_key)
             AS canonical_device
    FROM projection_study_dose p
    LEFT JOIN study st ON st.study_instance_uid = p.study_instance_uid AND st.partition_key = p.partition_key
    WHERE p.report_kind <> 'mammography'
    ORDER BY p.partition_key, p.study_instance_uid
"""


@dataclass(frozen=True, slots=True)
class ProjectionStudy:
    study_instance_uid: str
    source_date: str
    device: str
    device_label: str
    modality: str | None
    category: str | None
    name: str | None
    dap_gycm2: float | None


@dataclass(frozen=True, slots=True)
class ProjectionDrlAuditRow:
    """Median DAP per category, device and period (``projection_drl_audit_row``)."""

    category: str
    examination: str
    device: str
    period: str
    n_studies: int
    device_labels: int
    drl_set: str | None = None
    median_dap_gycm2: float | None = None
    drl_dap_gycm2: float | None = None
    median_exceeds: bool | None = None
    n_exceeding: int = 0


@dataclass
class ProjectionAudit:
    rows: list[ProjectionDrlAuditRow]
    exceeding: list[tuple[str, ProjectionDrlAuditRow, float]]  # (study UID, its group, its DAP)
    unmapped: dict[str, int] = field(default_factory=dict)


def projection_studies(warehouse: Warehouse, mapping: DrlMapping) -> Iterator[ProjectionStudy]:
    """Every non-mammography study of ``projection_study_dose``, streamed (none if the table is absent)."""
    tables = set(warehouse.table_names())
    if not {"projection_study_dose", "study", "series", "device"} <= tables:
        return
    with warehouse.engine.connect() as con:
        for row in con.execution_options(stream_results=True).execute(sa.text(_SQL)):
            category = mapping.category_for(row.exam_name, row.study_description)
            label = row.device or "unknown device"
            yield ProjectionStudy(
                study_instance_uid=row.study_instance_uid,
                source_date=str(row.partition_key),
                device=row.canonical_device or label,
                device_label=label,
                modality=row.modality,
                category=category if category and category.startswith(PROJECTION_PREFIXES) else None,
                name=row.exam_name or row.study_description,
                dap_gycm2=None if row.dap_total_gym2 is None else float(row.dap_total_gym2) * GYM2_TO_GYCM2,
            )


def projection_audit(
    studies: Iterator[ProjectionStudy] | list[ProjectionStudy], drl_set: DrlSet | None, period: str
) -> ProjectionAudit:
    """Median DAP per (category, device, period); against ``drl_set``'s DAP levels when one is given."""
    grouped: dict[tuple[str, str, str], list[ProjectionStudy]] = defaultdict(list)
    unmapped: dict[str, int] = defaultdict(int)
    for study in studies:
        if study.category is None:
            unmapped[study.name or "(no name)"] += 1
        elif study.dap_gycm2 is not None:
            grouped[(study.category, study.device, period_of(study.source_date, period))].append(study)
    rows: list[ProjectionDrlAuditRow] = []
    exceeding: list[tuple[str, ProjectionDrlAuditRow, float]] = []
    for (category, device, when), members in sorted(grouped.items()):
        level = drl_set.levels.get(category) if drl_set else None
        drl = level.dap_gycm2 if level else None
        median = statistics.median(s.dap_gycm2 for s in members if s.dap_gycm2 is not None)
        above = [s for s in members if drl is not None and s.dap_gycm2 is not None and s.dap_gycm2 > drl]
        row = ProjectionDrlAuditRow(
            category=category,
            examination=(level.examination if level else category)[:128],
            device=device[:128],
            period=when,
            n_studies=len(members),
            device_labels=len({s.device_label for s in members}),
            drl_set=drl_set.name if drl is not None and drl_set else None,
            median_dap_gycm2=median,
            drl_dap_gycm2=drl,
            median_exceeds=None if drl is None else median > drl,
            n_exceeding=len(above),
        )
        rows.append(row)
        exceeding += [(s.study_instance_uid, row, s.dap_gycm2) for s in above if s.dap_gycm2 is not None]
    return ProjectionAudit(rows, exceeding, dict(unmapped))


def projection_markdown(result: ProjectionAudit) -> str:
    """Medians against the DRL, then the exceeding examinations, as markdown."""
    if not result.rows:
        return "_no projection radiography or fluoroscopy study mapped to a DRL category_"
    lines = [
        "| Examination | Device | Period | n | median DAP (Gy cm2) | DRL DAP |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        median = f"**{r.median_dap_gycm2:.3g}**" if r.median_exceeds else f"{r.median_dap_gycm2:.3g}"
        drl = "-" if r.drl_dap_gycm2 is None else f"{r.drl_dap_gycm2:g}"
        lines.append(f"| {r.examination} | {r.device} | {r.period} | {r.n_studies} | {median} | {drl} |")
    if result.exceeding:
        lines += [
            "",
            "| Study (pseudonymised UID) | Examination | Device | DAP (Gy cm2) | DRL |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {uid} | {r.examination} | {r.device} | {dap:.3g} | {r.drl_dap_gycm2:g} |"
            for uid, r, dap in result.exceeding[:25]
        ]
    return "\n".join(lines)
