"""Daily partitions by study date (the source study date, before any date shift)."""

from __future__ import annotations

import os

import dagster as dg

from resources.site_config import SiteConfigError, load_site_config

PARTITIONS_START_ENV_VAR = "DICOM_LAKE_PARTITIONS_START"
DEFAULT_START = "2015-01-01"


def partitions_start_date() -> str:
    """``$DICOM_LAKE_PARTITIONS_START``, else the site file's ``partitions_start_date``.

    A site file that cannot be read falls back to the default: the Definitions must still load so the
    UI can show the configuration error of the runs.
    """
    from_env = os.environ.get(PARTITIONS_START_ENV_VAR)
    if from_env:
        return from_env
    try:
        return load_site_config().partitions_start_date.isoformat()
    except SiteConfigError:
        return DEFAULT_START


study_date_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start_date(),
    end_offset=1,  # today's studies can be pulled while the day is still running
)
