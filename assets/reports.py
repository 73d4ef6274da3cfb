"""Whole-warehouse dose reports: DRL audit and per-patient cumulative dose (not partitioned)."""

from pathlib import Path

import dagster as dg

from assets.code_versions import data_version_of, site_section_version, versioned
from assets.dose import effective_dose, study_dose
from assets.owners import MEDICAL_PHYSICS
from resources.dose.resource import DoseResource, dlp_plot_markdown

_RESOURCES = Path(__file__).resolve().parent.parent / "resources"
# DRL sets, the exam -> DRL category mapping, the exam-name normalisation and the chosen set.
DRL_AUDIT_VERSION = versioned(
    "drl-audit-1",
    data_version_of(_RESOURCES / "dose" / "drl_sets", _RESOURCES / "dose" / "drl_mapping.csv"),
    data_version_of(*sorted((_RESOURCES / "curation").glob("*.csv"))),
    site_section_version("dose"),
)
CUMULATIVE_VERSION = versioned("cumulative-1", site_section_version("dose"))


@dg.asset(
    owners=MEDICAL_PHYSICS,
    code_version=DRL_AUDIT_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[study_dose],
    automation_condition=dg.AutomationCondition.eager(),
    description="CT DRL audit over the whole warehouse: per category, device and month the number of "
    "studies and the median CTDIvol and DLP against the DRL set, exceeding examinations listed.",
)
def drl_audit(context: dg.AssetExecutionContext, dose: DoseResource) -> dg.MaterializeResult:
    result = dose.build_drl_audit(context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.rows),
            "drl_set": dose.drl_set().name,
            "exceeding_examinations": len(result.exceeding),
            "groups_with_median_above_drl": sum(
                1 for r in result.rows if r.median_dlp_exceeds or r.median_ctdivol_exceeds
            ),
            # Counts only: the names themselves are in the drl_unmapped_name table.
            "unmapped_exam_names": len(result.unmapped),
            "medians_vs_drl": dg.MetadataValue.md(result.markdown),
            "dlp_per_category": dg.MetadataValue.md(dlp_plot_markdown(result.plot_points)),
        }
    )


@dg.asset(
    owners=MEDICAL_PHYSICS,
    code_version=CUMULATIVE_VERSION,
    group_name="reports",
    kinds={"python", "sql"},
    deps=[effective_dose],
    automation_condition=dg.AutomationCondition.eager(),
    description="Effective dose per pseudonymised patient summed over rolling windows, with alerts at "
    "the configured threshold.",
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
        }
    )
