"""Whole-warehouse dose reports (not partitioned): CT and projection DRL audits, local DRLs, per-patient
cumulative dose.

Freshness: each report carries ``REPORT_FRESHNESS``, and the ``report_freshness`` automation sensor
(``orchestration/freshness.py``, running by default) evaluates it, so a backfill or a nightly pull is
followed by one report run without anyone launching it.
"""

from pathlib import Path

import dagster as dg

from assets.code_versions import data_version_of, site_section_version, versioned
from assets.dose import effective_dose, study_dose
from assets.owners import MEDICAL_PHYSICS
from assets.queues import CPU_STEP
from resources.dose.local_drl import DEFAULT_MIN_STUDIES_PER_ROOM
from resources.dose.projection_audit import projection_markdown
from resources.dose.report_markdown import nearest_threshold_markdown
from resources.dose.resource import DoseResource, dlp_plot_markdown

_RESOURCES = Path(__file__).resolve().parent.parent / "resources"
# DRL sets, the exam -> DRL category mapping, the exam-name and station normalisation, the chosen set.
DRL_AUDIT_VERSION = versioned(
    "drl-audit-2",
    data_version_of(_RESOURCES / "dose" / "drl_sets", _RESOURCES / "dose" / "drl_mapping.csv"),
    data_version_of(*sorted((_RESOURCES / "curation").glob("*.csv"))),
    site_section_version("dose"),
)
LOCAL_DRL_VERSION = versioned(
    "local-drl-1",
    data_version_of(_RESOURCES / "dose" / "drl_mapping.csv"),
    data_version_of(*sorted((_RESOURCES / "curation").glob("*.csv"))),
    site_section_version("dose"),
)
CUMULATIVE_VERSION = versioned("cumulative-2", site_section_version("dose"))
PROJECTION_AUDIT_VERSION = versioned(
    "projection-drl-audit-1",
    data_version_of(_RESOURCES / "dose" / "drl_sets", _RESOURCES / "dose" / "drl_mapping.csv"),
    site_section_version("dose"),
)

# Dagster's eager() also waits until no upstream partition is missing: with daily partitions from the
# site's start date most of them always are, so an eager whole-warehouse report never ran on its own.
# This condition requests the report once after any upstream partition was updated, and not while an
# upstream partition (a backfill) or the report itself is still in progress.
REPORT_FRESHNESS = (
    (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after upstream partitions update")


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=DRL_AUDIT_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[study_dose],
    automation_condition=REPORT_FRESHNESS,
    description="CT DRL audit over the whole warehouse: per category, canonical device and source "
    "period (partition date by month) the number of studies and the median CTDIvol and DLP against "
    "the DRL set, exceeding examinations listed.",
)
def drl_audit(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    result = dose.build_drl_audit(context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.rows),
            "drl_set": dose.drl_set().name,
            "devices": len({r.device for r in result.rows}),
            "exceeding_examinations": len(result.exceeding),
            "groups_with_median_above_drl": sum(
                1 for r in result.rows if r.median_dlp_exceeds or r.median_ctdivol_exceeds
            ),
            # Counts only: the names themselves are in the drl_unmapped_name table.
            "unmapped_exam_names": len(result.unmapped),
            "medians_vs_drl": dg.MetadataValue.md(result.markdown),
            "exceeding_examinations_table": dg.MetadataValue.md(result.exceeding_markdown),
            "dlp_per_category": dg.MetadataValue.md(dlp_plot_markdown(result.plot_points)),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=LOCAL_DRL_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[study_dose],
    automation_condition=REPORT_FRESHNESS,
    description="Local DRLs per ICRP 135: the third quartile of per-room (canonical device) medians per "
    "DRL category and source year, rooms with too few studies left out; written as an adoptable "
    "DRL-set CSV (set dose.local_drl_csv to it).",
)
def local_drl(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    rows, csv_path = dose.build_local_drl(context.run.run_id, DEFAULT_MIN_STUDIES_PER_ROOM)
    table = [
        "| Category | Year | Quantity | Local DRL | Rooms | Rooms below minimum | Studies | Room medians |",
        "|---|---|---|---|---|---|---|---|",
    ] + [
        f"| {r.category} | {r.period} | {r.quantity} | {'-' if r.value is None else f'{r.value:.3g}'} | "
        f"{r.n_rooms} | {r.n_rooms_below_minimum} | {r.n_studies} | {r.room_medians or '-'} |"
        for r in rows
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "levels_with_value": sum(1 for r in rows if r.value is not None),
            "min_studies_per_room": DEFAULT_MIN_STUDIES_PER_ROOM,
            "adoptable_csv": dg.MetadataValue.path(str(csv_path)),
            "local_drls": dg.MetadataValue.md("\n".join(table)),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=PROJECTION_AUDIT_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=["projection_study_dose"],
    automation_condition=REPORT_FRESHNESS,
    description="DRL audit of radiography and fluoroscopy: median DAP per exam, canonical device and "
    "source period against the DRL set's DAP levels (medians only while no set with DAP values is "
    "loaded), exceeding examinations listed.",
)
def projection_drl_audit(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    result, drl_set = dose.build_projection_audit(context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.rows),
            "drl_set": drl_set,
            "exceeding_examinations": len(result.exceeding),
            "unmapped_exam_names": len(result.unmapped),
            "medians_vs_drl": dg.MetadataValue.md(projection_markdown(result)),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=CUMULATIVE_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[effective_dose],
    automation_condition=REPORT_FRESHNESS,
    description="Effective dose per pseudonymised patient summed over rolling windows, with alerts at "
    "the configured threshold; the patients nearest it listed.",
)
def patient_cumulative_dose(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    rows = dose.build_cumulative(context.run.run_id)
    alerts = sum(1 for r in rows if r.alert)
    settings = dose.config().dose
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "patients": len({r.patient_pseudonym for r in rows}),
            "windows_years": dg.MetadataValue.json(list(settings.cumulative_windows_years)),
            "alert_threshold_msv": settings.cumulative_alert_msv,
            "patient_windows_in_alert": alerts,
            "nearest_threshold": dg.MetadataValue.md(nearest_threshold_markdown(rows)),
        }
    )
