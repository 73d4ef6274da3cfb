"""De-identification stage: spool instances of a partition -> research-zone instances (+ leak check)."""

import datetime as dt
from typing import Any

import dagster as dg

from assets.code_versions import data_version_of, site_section_version, versioned
from assets.owners import DATA_ENGINEERING
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import CPU_STEP
from resources.deid.arrival import local_zone
from resources.deid.options import OPTIONS_CSV
from resources.deid.partition_run import deidentify_partition, read_summary
from resources.deid.profile import TABLE_CSV
from resources.deid.resource import DeidentificationResource
from resources.deid.safe_private import SAFE_PRIVATE_CSV
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.spool.store import SpoolStore

# The PS3.15 table, the option columns, the private allow-list and the site's chosen options.
CODE_VERSION = versioned(
    "deid-2",  # 2: the arrival delay beside each partition (resources/deid/arrival.py)
    data_version_of(TABLE_CSV, OPTIONS_CSV, SAFE_PRIVATE_CSV),
    site_section_version("deidentification"),
)


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=study_date_partitions,
    group_name="deidentification",
    op_tags=CPU_STEP,
    deps=[dg.AssetKey("retrieved_instances")],
    kinds={"dicom", "presidio"},
    code_version=CODE_VERSION,
)
def deidentified_instances(
    context: dg.AssetExecutionContext, deid: DeidentificationResource
) -> dg.MaterializeResult:
    """Every spool instance of the day (PACS or listener), de-identified by PS3.15 Annex E + options."""
    config = deid.site.load()
    paths = config.paths
    spool = SpoolStore(paths.spool)
    partition_key = partition_key_of(context)
    purged = spool.instances(partition_key, states=["purged"])
    if purged:
        # A rerun replaces the research partition with what the spool holds now; instances whose
        # spool copies were purged after their retention would be lost from it.
        raise dg.Failure(
            f"partition {partition_key}: {len(purged)} instance(s) were purged from the spool "
            "after folders.spool_retention_days; rerun retrieved_instances first to fetch them again "
            "(the research store keeps the previous de-identified copies until then)"
        )
    summary = deidentify_partition(
        deid.engine(),
        spool,
        ResearchStore(paths.research),
        QuarantineStore(paths.quarantine),
        partition_key,
        local_zone=local_zone(config.schedule.timezone),
    )
    outcomes = summary.outcomes
    # Identifiable copies of released or quarantined instances leave the spool after their retention.
    purged_now = spool.purge(older_than=dt.timedelta(days=config.folders.spool_retention_days))
    context.log.info(
        f"partition {partition_key}: {outcomes['deidentified']} de-identified, "
        f"{outcomes['quarantined']} quarantined, {outcomes['opted_out']} opted out"
    )
    if summary.sop_instance_uid_collisions:
        context.log.warning(
            f"partition {partition_key}: {summary.sop_instance_uid_collisions} spool file(s) share a "
            "SOP Instance UID with another and were superseded (later creation time, else larger file, "
            "else first in spool order)"
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcomes["deidentified"],
            "deidentified": outcomes["deidentified"],
            "quarantined": outcomes["quarantined"],
            "opted_out": outcomes["opted_out"],
            "spool_files_purged": purged_now,
            "unreadable": summary.unreadable,
            "burned_in_quarantined": summary.burned_in_quarantined,
            "leak_hits": summary.leak_hits,
            # Spool rows whose files share a SOP Instance UID with a kept one (resources.deid.collisions).
            "sop_instance_uid_collisions": summary.sop_instance_uid_collisions,
            "findings_by_entity": dg.MetadataValue.json(summary.findings_by_entity),
            "profile_version": summary.profile_version,
            "instances_per_second": round(sum(outcomes.values()) / summary.seconds, 1)
            if summary.seconds
            else 0.0,
        }
    )


# partitions_def: the result is recorded with its partition, so the UI shows the leak check per day.
@dg.asset_check(asset=deidentified_instances, blocking=True, partitions_def=study_date_partitions)
def phi_leak_check(
    context: dg.AssetCheckExecutionContext, deid: DeidentificationResource
) -> dg.AssetCheckResult:
    """Fails when any output of the partition still held a source identifier (those were quarantined)."""
    partition_key = str(context.partition_key) if context.has_partition_key else None
    summary = read_summary(ResearchStore(deid.research_root()), partition_key) if partition_key else None
    return leak_check_result(summary)


def leak_check_result(summary: dict[str, Any] | None) -> dg.AssetCheckResult:
    """Pass only when the partition's summary records a leak verification with no hit."""
    if summary is None:
        return dg.AssetCheckResult(
            passed=False, metadata={"reason": "no de-identification summary for the partition"}
        )
    leak = summary["leak_check"]
    return dg.AssetCheckResult(
        passed=bool(leak["passed"]),
        metadata={
            "instances_checked": leak["instances_checked"],
            "instances_with_leaks": leak["instances_with_leaks"],
            "hits": leak["hits"],
        },
    )
