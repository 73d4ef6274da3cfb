"""Curation: the partition's de-identified instances into the warehouse tables users query."""

import dagster as dg

from assets.code_versions import data_version_of, versioned
from assets.owners import DATA_ENGINEERING
from assets.partitions import partition_key_of, study_date_partitions
from assets.queues import CPU_STEP
from resources.curation.data_files import DATA_FOLDER
from resources.curation.resource import CurationResource
from resources.warehouse.completeness import DIAGNOSTIC_CTDIVOL
from resources.warehouse.lineage import CODE_VERSION, Lineage
from resources.warehouse.resource import WarehouseResource

# Editing a mapping file (exam names, stations, regions) marks the partitions stale.
# 2: arrival_delay_s and arrival_path on instance rows.
CURATION_CODE_VERSION = versioned("curation-2", data_version_of(*sorted(DATA_FOLDER.glob("*.csv"))))


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=study_date_partitions,
    group_name="curation",
    op_tags=CPU_STEP,
    kinds={"python", "sql"},
    deps=["deidentified_instances"],
    code_version=CURATION_CODE_VERSION,
    description="Patients, studies, series, instances, devices, CT acquisitions, mammography exposures, "
    "quality flags and the PHI-finding audit of the partition, with normalised names and body regions.",
)
def curated_instances(context: dg.AssetExecutionContext, curation: CurationResource) -> dg.MaterializeResult:
    partition_key = partition_key_of(context)
    lineage = Lineage(
        partition_key=partition_key,
        run_id=context.run.run_id,
        code_version=f"{CODE_VERSION}/{CURATION_CODE_VERSION}"[:32],
        deid_profile_version=curation.deid_profile_version(partition_key),
    )
    summary = curation.curate_partition(lineage)
    if summary.unreadable:
        context.log.warning(f"{len(summary.unreadable)} unreadable file(s) quarantined")
    mapped_share = summary.exam_names_mapped / summary.exam_names_total if summary.exam_names_total else 0.0
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.rows.get("instance", 0),
            "files_read": summary.files,
            "unreadable_files": len(summary.unreadable),
            "rows_per_table": dg.MetadataValue.json(summary.rows),
            "flags_by_rule": dg.MetadataValue.json(dict(summary.flags_by_rule)),
            "exam_names_mapped_share": dg.MetadataValue.float(round(mapped_share, 4)),
            # Counts only: the unmapped names themselves are in the warehouse's unmapped_name table.
            "distinct_unmapped_names": dg.MetadataValue.json(summary.unmapped),
        }
    )


@dg.asset_check(
    asset=curated_instances,
    partitions_def=study_date_partitions,  # each evaluation is recorded with its partition (per day)
    blocking=True,
    description="Stops the dose assets when the partition is empty or catastrophically incomplete "
    "(no instances, fewer than half the de-identified files curated, core fields mostly missing).",
)
def curated_partition_not_empty(
    context: dg.AssetCheckExecutionContext, curation: CurationResource
) -> dg.AssetCheckResult:
    partition_key = partition_key_of(context.op_execution_context)
    health = curation.partition_health(partition_key)
    return dg.AssetCheckResult(
        passed=health.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(health.problems) or "partition curated",
        metadata={
            "instances": health.instances,
            "studies": health.studies,
            "core_completeness": dg.MetadataValue.float(health.core_completeness),
            "study_date_completeness": dg.MetadataValue.float(health.study_date_completeness),
        },
    )


@dg.asset_check(
    asset=curated_instances,
    partitions_def=study_date_partitions,  # each evaluation is recorded with its partition (per day)
    description="Share of rows with each key field set, overall and per device (station); warns when "
    "CTDIvol is missing on more than 10% of axial/helical CT images (localisers carry none) or organ "
    "dose on more than 10% of mammography images.",
)
def curated_field_completeness(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    partition_key = partition_key_of(context.op_execution_context)
    fields, per_device = warehouse.completeness(partition_key)
    dose_fields = (DIAGNOSTIC_CTDIVOL, "mg_exposure.organ_dose_mgy")
    low = [name for name in dose_fields if fields.get(name) is not None and (fields[name] or 0.0) < 0.9]
    return dg.AssetCheckResult(
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        description=("incomplete: " + ", ".join(low)) if low else "dose fields complete",
        metadata={
            "field_completeness": dg.MetadataValue.json(fields),
            "device_completeness": dg.MetadataValue.json(per_device),
        },
    )


@dg.asset_check(
    asset=curated_instances,
    partitions_def=study_date_partitions,  # each evaluation is recorded with its partition (per day)
    description="Quality flag counts per rule and severity; warns when any error-severity flag was raised.",
)
def curated_quality_flags(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    partition_key = partition_key_of(context.op_execution_context)
    counts = warehouse.flag_counts(partition_key)
    errors = sum(counts.get("error", {}).values())
    return dg.AssetCheckResult(
        passed=errors == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{errors} error-severity flag(s)",
        metadata={
            "flag_counts": dg.MetadataValue.json(counts),
            "total_flags": sum(sum(rules.values()) for rules in counts.values()),
        },
    )
