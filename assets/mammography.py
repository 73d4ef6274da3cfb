"""Mammography: per-exposure header rows with the Dance MGD (partitioned), breast-screening audits."""

from pathlib import Path

import dagster as dg

from assets.code_versions import data_version_of, site_section_version, versioned
from assets.owners import MEDICAL_PHYSICS
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import CPU_STEP
from resources.dose.mammography.plots import agd_scatter_markdown, force_histogram_markdown, markdown_table
from resources.dose.mammography.resource import MammographyResource

_TABLES = Path(__file__).resolve().parent.parent / "resources" / "dose" / "mammography"
# The g/c/s tables, the DRL bands and the site's mammography settings (QA file path, tolerance).
MAMMOGRAPHY_EXPOSURES_VERSION = versioned(
    "mammography-exposures-1",
    data_version_of(*sorted(_TABLES.glob("*_factors.csv"))),
    site_section_version("mammography"),
)
BREAST_AUDIT_VERSION = versioned(
    "breast-audit-1", data_version_of(_TABLES / "drl_by_thickness.csv"), site_section_version("mammography")
)


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=MAMMOGRAPHY_EXPOSURES_VERSION,
    partitions_def=study_date_partitions,
    group_name="dose",
    kinds={"python", "sql"},
    deps=["curated_instances"],
    description="Projection exposures (MG, DX, CR) read from every image header of the partition, units "
    "normalised; for MG the Dance-model MGD from the site QA file, compared with the modality's figure.",
)
def mammography_exposures(
    context: dg.AssetExecutionContext, mammography: MammographyResource
) -> dg.MaterializeResult:
    result = mammography.build_exposures(partition_key_of(context), context.run.run_id)
    mg = result.mg_rows
    reasons: dict[str, int] = {}
    for row in mg:
        if row["mgd_reason"]:
            reasons[row["mgd_reason"]] = reasons.get(row["mgd_reason"], 0) + 1
    if result.unreadable:
        context.log.warning(f"{len(result.unreadable)} file(s) could not be read")
    if mammography.qa_path() is None and mg:
        context.log.warning("no mammography QA file configured: MGD not computed, the modality's figure only")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.rows),
            "files_read": result.files_read,
            "unreadable_files": len(result.unreadable),
            "mg_exposures": len(mg),
            "mg_exposures_counted": sum(1 for r in mg if r["counted"]),
            "dx_cr_exposures": len(result.rows) - len(mg),
            "mgd_computed": sum(1 for r in mg if r["mgd_mgy"] is not None),
            "mgd_flagged": sum(1 for r in mg if r["mgd_flagged"]),
            "qa_file": str(mammography.qa_path() or "none configured"),
            "mgd_not_computed_by_reason": dg.MetadataValue.json(reasons),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    code_version=BREAST_AUDIT_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[mammography_exposures],
    automation_condition=dg.AutomationCondition.eager(),
    description="Breast-screening audits over the whole warehouse: AGD per compressed-thickness band, view, "
    "system and period against the national DRL; compression force per site, system and operator with "
    "the share outside the site range; Dance-model MGD against the modality's figure.",
)
def breast_screening_audit(
    context: dg.AssetExecutionContext, mammography: MammographyResource
) -> dg.MaterializeResult:
    audit = mammography.build_audit(context.run.run_id)
    settings = mammography.audit_settings()
    exceeding = [r for r in audit.dose_bands if r["median_exceeds_drl"]]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(audit.dose_bands) + len(audit.compression) + len(audit.comparison),
            "sources": dg.MetadataValue.json(list(audit.sources)),
            "drl_set": settings.drl_set,
            "bands_with_median_above_drl": len(exceeding),
            "agd_vs_thickness": dg.MetadataValue.md(agd_scatter_markdown(audit.scatter, settings.drls)),
            "force_per_system": dg.MetadataValue.md(
                force_histogram_markdown(audit.force_histogram, settings.force_min_n, settings.force_max_n)
            ),
            "dose_bands": dg.MetadataValue.md(
                markdown_table(
                    audit.dose_bands,
                    ["view", "system", "period", "band_min_mm", "n_exposures", "median_agd_mgy", "drl_mgy"],
                )
            ),
            "compression": dg.MetadataValue.md(
                markdown_table(
                    audit.compression,
                    ["group_kind", "group_value", "n_exposures", "median_force_n", "share_outside_range"],
                )
            ),
            "mgd_comparison": dg.MetadataValue.md(
                markdown_table(
                    audit.comparison,
                    [
                        "system",
                        "n_exposures",
                        "n_compared",
                        "n_flagged",
                        "median_difference_percent",
                        "qa_file",
                    ],
                )
            ),
        }
    )
