"""The asset graph's contract (keys, groups, partitions) with trivial bodies, for testing jobs/sensors.

The real assets are written elsewhere; these stand-ins have the same keys, groups, partitioning and
dependencies so the orchestration can be tested on its own. ``FAILING_PARTITIONS`` makes
``deidentified_instances`` fail for chosen partitions (with a message that looks like patient data, to
prove failure summaries do not copy it).
"""

import dagster as dg

from assets.partitions import study_date_partitions
from orchestration.jobs import ALL_JOBS
from orchestration.schedules import ALL_SCHEDULES
from orchestration.sensors import ALL_SENSORS
from resources.site_resource import SiteConfigResource

FAILING_PARTITIONS: set[str] = set()
PHI_LIKE_TEXT = "DOE^JANE 19700101"

PARTITIONED_CHAIN = [
    ("pacs_study_index", "retrieval"),
    ("retrieved_instances", "retrieval"),
    ("deidentified_instances", "deidentification"),
    ("curated_instances", "curation"),
    ("ct_dose_events", "dose"),
    ("study_dose", "dose"),
    ("effective_dose", "dose"),
]


def _partitioned(name: str, group: str, upstream: str | None) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name=group,
        partitions_def=study_date_partitions,
        deps=[upstream] if upstream else [],
        pool="pacs" if group == "retrieval" else None,
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        if name == "deidentified_instances" and context.partition_key in FAILING_PARTITIONS:
            raise ValueError(f"could not read {PHI_LIKE_TEXT}")
        return dg.MaterializeResult(metadata={"dagster/row_count": 1})

    return _asset


def _report(name: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, group_name="reports", deps=["effective_dose"])
    def _asset() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 0})

    return _asset


def stub_assets() -> list[dg.AssetsDefinition]:
    assets = []
    upstream = None
    for name, group in PARTITIONED_CHAIN:
        assets.append(_partitioned(name, group, upstream))
        upstream = name
    assets += [_report("drl_audit"), _report("patient_cumulative_dose")]
    return assets


def stub_definitions(config_path: str) -> dg.Definitions:
    return dg.Definitions(
        assets=stub_assets(),
        jobs=ALL_JOBS,
        schedules=ALL_SCHEDULES,
        sensors=ALL_SENSORS,
        resources={"site": SiteConfigResource(config_path=config_path)},
    )
