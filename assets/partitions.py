"""The chain's partitions: study dates (the source study date, before any date shift), by source.

With one source (the site file's ``pacs:``), a partition is a study date. A site file that lists two
or more ``sources:`` makes them date x source (a ``MultiPartitionsDefinition``), so each archive's
runs, backfills and reruns stay apart; the key format is :mod:`resources.partition_keys`. Runs of a
two-dimensional partition carry the tag ``dagster/partition/source``, which the instance template's
run limit per source uses (``orchestration/instance/dagster-scale.yaml``).
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from resources.partition_keys import DATE_DIMENSION, SOURCE_DIMENSION
from resources.site_config import SiteConfig, SiteConfigError, load_site_config

# The checks record their results per partition (so the UI shows the leak check per day), which
# Dagster 1.13 marks as a preview: chosen knowingly, its warning is not repeated at every load.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

PARTITIONS_START_ENV_VAR = "DICOM_LAKE_PARTITIONS_START"
DEFAULT_START = "2015-01-01"
SOURCE_TAG = f"dagster/partition/{SOURCE_DIMENSION}"  # set by Dagster on runs of a date x source key

ChainPartitions = dg.DailyPartitionsDefinition | dg.MultiPartitionsDefinition


def _site_config() -> SiteConfig | None:
    # A site file that cannot be read falls back to the defaults: the Definitions must still load so
    # the UI can show the configuration error of the runs.
    try:
        return load_site_config()
    except SiteConfigError:
        return None


def partitions_start_date(config: SiteConfig | None = None) -> str:
    """``$DICOM_LAKE_PARTITIONS_START``, else the site file's ``partitions_start_date``."""
    from_env = os.environ.get(PARTITIONS_START_ENV_VAR)
    if from_env:
        return from_env
    config = config or _site_config()
    return config.partitions_start_date.isoformat() if config is not None else DEFAULT_START


def build_partitions(config: SiteConfig | None) -> ChainPartitions:
    """Daily study-date partitions, crossed with the site's sources when it lists several."""
    daily = dg.DailyPartitionsDefinition(
        start_date=partitions_start_date(config),
        end_offset=1,  # today's studies can be pulled while the day is still running
    )
    sources = config.partition_sources if config is not None else []
    if not sources:
        return daily
    return dg.MultiPartitionsDefinition(
        {DATE_DIMENSION: daily, SOURCE_DIMENSION: dg.StaticPartitionsDefinition(sources)}
    )


def partition_key_for(day: str, source: str | None) -> str | dg.MultiPartitionKey:
    """The key of one study date of one source (None: the only source) as Dagster expects it."""
    if source is None:
        return day
    return dg.MultiPartitionKey({DATE_DIMENSION: day, SOURCE_DIMENSION: source})


def partition_key_of(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    """The run's partition key as the engines take it: plain text (``2026-11-09|east`` with sources)."""
    return str(context.partition_key)  # a MultiPartitionKey is a str subclass; engines get plain text


study_date_partitions = build_partitions(_site_config())
