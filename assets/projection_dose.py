"""Projection X-ray dose assets: fluoroscopy, interventional, radiography and mammography dose SRs
(TID 10001) read, de-duplicated and linked per study date; the fluoroscopy cumulative-dose alert report."""

import dagster as dg

from assets.code_versions import site_section_version, versioned
from assets.owners import MEDICAL_PHYSICS
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import CPU_STEP
from resources.dose.projection_resource import ProjectionDoseResource

# The window and thresholds are site choices in the dose section: changing them marks the report stale.
CUMULATIVE_VERSION = versioned("fluoro-cumulative-1", site_section_version("dose"))


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    partitions_def=study_date_partitions,
    group_name="dose",
    kinds={"python", "sql"},
    deps=["curated_instances"],
    description="Projection X-ray irradiation events (fluoroscopy, interventional, radiography, "
    "mammography) from the partition's dose SRs, de-duplicated per study, with each report's own totals "
    "per plane and the image instances that carry each event's Irradiation Event UID.",
)
def projection_dose_events(
    context: dg.AssetExecutionContext, projection_dose: ProjectionDoseResource
) -> dg.MaterializeResult:
    analysis = projection_dose.build_events(partition_key_of(context), context.run.run_id)
    if analysis.unreadable:
        context.log.warning(
            f"{len(analysis.unreadable)} file(s) could not be read: "
            + ", ".join(f"{name} ({why})" for name, why in analysis.unreadable[:10])
        )
    if analysis.partial_reports:
        context.log.warning(f"{analysis.partial_reports} truncated dose report(s) read in part (flagged)")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(analysis.events),
            "files_read": analysis.files_read,
            "projection_dose_reports": analysis.projection_reports,
            "partial_reports": analysis.partial_reports,
            "unreadable_files": len(analysis.unreadable),
            "studies": len(analysis.contexts),
            "fluoroscopy_studies": sum(1 for c in analysis.contexts if c.is_fluoroscopy),
            "mammography_studies": sum(1 for c in analysis.contexts if c.report_kind == "mammography"),
            "events_linked_to_instances": sum(1 for e in analysis.events if e.n_linked_instances),
            "duplicate_events_removed": sum(c.n_duplicate_events for c in analysis.contexts),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    partitions_def=study_date_partitions,
    group_name="dose",
    kinds={"python", "sql"},
    deps=[projection_dose_events],
    description="Per-study projection X-ray dose: DAP, dose at RP per plane and AGD per breast "
    "recomputed in SQL from the unique events, beside the reports' own totals (mismatches flagged).",
)
def projection_study_dose(
    context: dg.AssetExecutionContext, projection_dose: ProjectionDoseResource
) -> dg.MaterializeResult:
    rows = projection_dose.build_study_dose(partition_key_of(context), context.run.run_id)
    mismatches = sum(1 for r in rows if r.totals_match is False)
    if mismatches:
        context.log.warning(f"{mismatches} study(ies) whose reported totals differ from the events' sums")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "fluoroscopy_studies": sum(1 for r in rows if r.is_fluoroscopy),
            "total_mismatches": mismatches,
            "studies_with_linked_events": sum(1 for r in rows if r.n_events_linked),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=CUMULATIVE_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[projection_study_dose],
    description="Fluoroscopy and interventional: each patient's DAP and dose at RP over the rolling "
    "window (site file, 12 weeks by default) against the alert thresholds (20,000 cGy.cm2, 2 Gy by "
    "default); the patients in alert or nearest the thresholds are listed by pseudonym.",
)
def fluoroscopy_cumulative_dose(
    context: dg.AssetExecutionContext, projection_dose: ProjectionDoseResource
) -> dg.MaterializeResult:
    report = projection_dose.build_cumulative(context.run.run_id)
    if report.patients_in_alert:
        context.log.warning(
            f"{report.patients_in_alert} patient(s) at or above a fluoroscopy alert threshold"
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(report.rows),
            "patients": len({r.patient_pseudonym for r in report.rows}),
            "patients_in_alert": report.patients_in_alert,
            "patients_nearest_thresholds": dg.MetadataValue.md(report.markdown),
        }
    )
