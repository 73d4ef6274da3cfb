"""Dose assets: CT irradiation events, per-study dose, effective dose (partitioned by study date)."""

from pathlib import Path

import dagster as dg

from assets.code_versions import data_version_of, site_section_version, versioned
from assets.owners import MEDICAL_PHYSICS
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import CPU_STEP
from resources.dose.event_ssde import ssde_methods
from resources.dose.report_markdown import distribution, distributions_markdown
from resources.dose.resource import DoseResource

DOSE_DATA = Path(__file__).resolve().parent.parent / "resources" / "dose"


def _distribution_metadata(quantities: dict[str, list[float | None]]) -> dict[str, dg.MetadataValue]:
    """The partition's distribution (median, IQR, max) of each quantity: a table and its numbers."""
    numbers = {}
    for label, values in quantities.items():
        d = distribution(values)
        numbers[label] = d.as_dict() if d else None
    return {
        "distribution": dg.MetadataValue.md(distributions_markdown(quantities)),
        "distribution_values": dg.MetadataValue.json(numbers),
    }


# Editing a factor set or choosing another one in the site file marks effective dose stale.
EFFECTIVE_DOSE_VERSION = versioned(
    "effective-dose-1", data_version_of(DOSE_DATA / "k_factors"), site_section_version("dose")
)


@dg.asset(
    owners=MEDICAL_PHYSICS,
    partitions_def=study_date_partitions,
    group_name="dose",
    op_tags=CPU_STEP,
    kinds={"python", "sql"},
    deps=["curated_instances"],
    description="CT irradiation events from the partition's dose SRs (de-duplicated, linked to their "
    "image series) or estimated from image headers for studies without a dose SR.",
)
def ct_dose_events(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    analysis = dose.build_events(partition_key_of(context), context.run.run_id)
    studies = len(analysis.contexts)
    with_rdsr = sum(1 for c in analysis.contexts if c.has_rdsr)
    estimated = sum(1 for e in analysis.events if e.origin == "estimated")
    linked = sum(1 for e in analysis.events if e.link_method)
    if analysis.unreadable:
        context.log.warning(
            f"{len(analysis.unreadable)} file(s) could not be read: "
            + ", ".join(f"{name} ({why})" for name, why in analysis.unreadable[:10])
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(analysis.events),
            "files_read": analysis.files_read,
            "ct_dose_reports": analysis.dose_reports,
            "other_dose_reports": analysis.not_ct_dose_reports,
            "unreadable_files": len(analysis.unreadable),
            "ct_studies": studies,
            "studies_with_rdsr": with_rdsr,
            "studies_estimated": studies - with_rdsr,
            "share_with_rdsr": dg.MetadataValue.float(with_rdsr / studies if studies else 0.0),
            "estimated_events": estimated,
            "events_linked_to_series": linked,
            "duplicate_events_removed": sum(c.n_duplicate_events for c in analysis.contexts),
            "events_with_ssde": sum(1 for e in analysis.events if e.ssde_mgy is not None),
            "ssde_methods": dg.MetadataValue.json(ssde_methods(analysis.events)),
            **_distribution_metadata(
                {
                    "CTDIvol per event (mGy)": [e.ctdivol_mgy for e in analysis.events],
                    "DLP per event (mGy cm)": [e.dlp_mgycm for e in analysis.events],
                    "SSDE per event (mGy)": [e.ssde_mgy for e in analysis.events],
                }
            ),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    partitions_def=study_date_partitions,
    group_name="dose",
    op_tags=CPU_STEP,
    kinds={"python", "sql"},
    deps=[ct_dose_events],
    description="Per-study CT dose: DLP total recomputed from the unique events and compared with the "
    "reports' own totals; mean diagnostic CTDIvol; DRL category.",
)
def study_dose(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    rows = dose.build_study_dose(partition_key_of(context), context.run.run_id)
    mismatches = sum(1 for r in rows if r.totals_match is False)
    if mismatches:
        context.log.warning(f"{mismatches} study(ies) whose reported DLP total differs from the events' sum")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "studies_with_rdsr": sum(1 for r in rows if r.origin == "rdsr"),
            "studies_estimated": sum(1 for r in rows if r.origin == "estimated"),
            "total_mismatches": mismatches,
            "studies_mapped_to_drl_category": sum(1 for r in rows if r.drl_category),
            **_distribution_metadata(
                {
                    "CTDIvol, mean of diagnostic events (mGy)": [r.ctdivol_diagnostic_mean_mgy for r in rows],
                    "DLP total per study (mGy cm)": [r.dlp_total_mgycm for r in rows],
                }
            ),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    code_version=EFFECTIVE_DOSE_VERSION,
    partitions_def=study_date_partitions,
    group_name="dose",
    op_tags=CPU_STEP,
    kinds={"python", "sql"},
    deps=[study_dose],
    description="Effective dose E = k x DLP per event and per study, with factor set, region, age band "
    "and method recorded; no number (with a reason) for unknown region or age.",
)
def effective_dose(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    event_rows, study_rows = dose.build_effective_dose(partition_key_of(context), context.run.run_id)
    with_number = [r for r in study_rows if r.effective_dose_msv is not None]
    reasons: dict[str, int] = {}
    for row in event_rows:
        if row.reason and row.dlp_mgycm:
            reasons[row.reason] = reasons.get(row.reason, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(event_rows),
            "studies": len(study_rows),
            "studies_with_effective_dose": len(with_number),
            "factor_set": dose.factor_set().name,
            "events_without_number_by_reason": dg.MetadataValue.json(reasons),
            **_distribution_metadata(
                {
                    "Effective dose per study (mSv)": [r.effective_dose_msv for r in study_rows],
                    "Effective dose per event (mSv)": [r.effective_dose_msv for r in event_rows],
                }
            ),
        }
    )
