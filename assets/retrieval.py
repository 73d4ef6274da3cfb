"""Retrieval stage: what the PACS holds for a study date, and the instances pulled into the spool."""

import dagster as dg

from assets.owners import DATA_ENGINEERING
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import PACS_STEP
from resources.pacs.resource import PacsResource


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=study_date_partitions,
    group_name="retrieval",
    op_tags=PACS_STEP,
    kinds={"dicom"},
    pool="pacs",
    description=(
        "Study Root C-FIND (STUDY then SERIES level) for the partition's study date, or the cohort, with "
        "case selection from the site file; replaces the partition's rows of the spool-side index."
    ),
)
def pacs_study_index(context: dg.AssetExecutionContext, pacs: PacsResource) -> dg.MaterializeResult:
    summary = pacs.index_partition(partition_key_of(context))
    context.log.info(
        f"{summary.studies_found} studies found, {summary.studies_selected} selected, {summary.series} series"
    )
    metadata: dict[str, dg.RawMetadataValue] = {
        "dagster/row_count": summary.studies_selected,
        "studies_found": summary.studies_found,
        "studies_selected": summary.studies_selected,
        "series": summary.series,
        "series_selected": summary.series_selected,
        "dose_report_series": summary.dose_report_series,
        "instances_reported": summary.instances_reported,
        "sr_series_without_image_level_answer": summary.sr_series_without_image_answer,
    }
    for reason, count in sorted(summary.skipped_reasons.items()):
        metadata[f"skipped: {reason}"] = count
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=study_date_partitions,
    group_name="retrieval",
    op_tags=PACS_STEP,
    kinds={"dicom"},
    pool="pacs",
    deps=[pacs_study_index],
    description=(
        "The selected studies' instances in the spool (policy 'metadata': dose SRs plus first - and for "
        "CT without a dose SR, last - instance of each image series; 'full': everything), by C-MOVE to "
        "our storage SCP or C-GET; resumable, idempotent, throttled."
    ),
)
def retrieved_instances(context: dg.AssetExecutionContext, pacs: PacsResource) -> dg.MaterializeResult:
    summary = pacs.retrieve_partition(partition_key_of(context))
    context.log.info(
        f"{summary.instances_retrieved} instances retrieved, {summary.instances_already_present} already "
        f"present, {summary.instances_failed} failed ({summary.policy}, {summary.method})"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.instances_retrieved + summary.instances_already_present,
            "studies": summary.studies,
            "series": summary.series,
            "instances_expected": summary.instances_expected,
            "instances_retrieved": summary.instances_retrieved,
            "instances_already_present": summary.instances_already_present,
            "instances_failed": summary.instances_failed,
            "bytes_retrieved": summary.bytes_retrieved,
            "instances_per_s": round(summary.instances_per_s, 1),
            "seconds": round(summary.seconds, 2),
            "moves": summary.moves,
            "retries": summary.retries,
            "rate_limit_wait_s": round(summary.rate_limit_wait_s, 1),
            "policy": summary.policy,
            "method": summary.method,
        }
    )
