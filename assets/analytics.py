"""Department analyses over the whole warehouse: activity, device map, workflow timing, population and
data quality, each with its tables and plots in the UI (group ``analytics``).

Unpartitioned on purpose: every analysis compares source days, weeks and months with each other (trends,
first/last seen, hour-of-week pattern), which no single daily partition can show; a run aggregates in
the database, so a whole-warehouse run stays cheap (see ``benchmarks/reports.py``). Freshness is the
reports' rule (``assets.reports.REPORT_FRESHNESS``): one run after upstream partitions were updated.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.code_versions import data_version_of, versioned
from assets.dose import effective_dose, study_dose
from assets.owners import MEDICAL_PHYSICS
from assets.queues import CPU_STEP
from assets.reports import REPORT_FRESHNESS
from resources.analytics import activity as activity_analysis
from resources.analytics import data_quality as data_quality_analysis
from resources.analytics import devices as devices_analysis
from resources.analytics import population as population_analysis
from resources.analytics import workflow as workflow_analysis
from resources.analytics.resource import AnalyticsResource, analysis_metadata
from resources.curation.data_files import DATA_FOLDER

# The body region vocabulary decides the Body Part Examined verdicts: editing it changes the results.
ANALYTICS_VERSION = versioned("analytics-1", data_version_of(*sorted(DATA_FOLDER.glob("*.csv"))))
GROUP = "analytics"


def _analysis_asset(
    name: str, key: str, description: str, deps: Sequence[dg.AssetsDefinition | str]
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        owners=MEDICAL_PHYSICS,
        op_tags=CPU_STEP,
        group_name=GROUP,
        code_version=ANALYTICS_VERSION,
        kinds={"python", "sql"},
        deps=list(deps),
        automation_condition=REPORT_FRESHNESS,
        description=description,
    )
    def _asset(analytics: AnalyticsResource) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=analysis_metadata(analytics.analysis(key)))

    return _asset


activity = _analysis_asset(
    "activity",
    activity_analysis.KEY,
    "Studies, series and instances per modality, device, institution and body region per source day, "
    "week and month; hour-of-week heatmap per modality; weekly trend.",
    ["curated_instances"],
)
device_map = _analysis_asset(
    "device_map",
    devices_analysis.KEY,
    "Every scanner (canonical station, pseudonymised serial, manufacturer, model, modality): first and "
    "last seen, volume trend, share of studies with a dose report, dose indices per exam, software versions.",
    ["curated_instances", study_dose],
)
workflow_timing = _analysis_asset(
    "workflow_timing",
    workflow_analysis.KEY,
    "Exam duration (first to last acquisition), gaps between images, screening mammography visit length "
    "and throughput per device and hour of day.",
    ["curated_instances"],
)
population = _analysis_asset(
    "population",
    population_analysis.KEY,
    "Age band and sex per modality and exam, paediatric share, CT DLP and effective dose by age band.",
    ["curated_instances", study_dose, effective_dose],
)
data_quality = _analysis_asset(
    "data_quality",
    data_quality_analysis.KEY,
    "Completeness of each audited attribute per device and manufacturer, unmapped names per month, Body "
    "Part Examined disagreeing with the inferred body region per device.",
    ["curated_instances"],
)
