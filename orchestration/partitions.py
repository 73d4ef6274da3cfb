"""Daily partitions by study date (the source study date, before any date shift)."""

from __future__ import annotations

import os

import dagster as dg

PARTITIONS_START_ENV_VAR = "DICOM_LAKE_PARTITIONS_START"

study_date_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get(PARTITIONS_START_ENV_VAR, "2015-01-01"),
    end_offset=1,  # today's studies can be pulled while the day is still running
)
