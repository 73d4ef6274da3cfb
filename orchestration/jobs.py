"""The jobs operators run: retrospective pulls, prospective processing, and the reports.

Selections are by asset group so a job resolves whichever assets of a group exist; the group names
and the asset keys are the contract of the asset graph (see the project brief). The partitioned jobs
take their partitions (``study_date_partitions``) from the assets they select.
"""

from __future__ import annotations

import dagster as dg

PARTITIONED_GROUPS = ("retrieval", "deidentification", "curation", "dose")
PROSPECTIVE_GROUPS = ("deidentification", "curation", "dose")
# Whole-warehouse summaries: the dose reports and the analyses (activity, devices, workflow, ...).
REPORT_GROUPS = ("reports", "analytics")

retrospective_pull_job = dg.define_asset_job(
    name="retrospective_pull_job",
    selection=dg.AssetSelection.groups(*PARTITIONED_GROUPS),
    description=(
        "Pull one study date from the PACS (C-FIND index, C-MOVE/C-GET retrieval) and carry it through "
        "de-identification, curation and dose: every partitioned asset from pacs_study_index to "
        "effective_dose. Backfill a date range for a retrospective pull."
    ),
    tags={"dicom-lake/path": "retrospective"},
)

prospective_processing_job = dg.define_asset_job(
    name="prospective_processing_job",
    selection=dg.AssetSelection.groups(*PROSPECTIVE_GROUPS),
    description=(
        "Process what the listener received for one study date: de-identification through effective "
        "dose (no PACS traffic). Requested by the prospective_arrivals sensor."
    ),
    tags={"dicom-lake/path": "prospective"},
)

reports_job = dg.define_asset_job(
    name="reports_job",
    selection=dg.AssetSelection.groups(*REPORT_GROUPS),
    description="Rebuild the whole-warehouse reports: DRL audit, local DRLs and patient cumulative dose "
    "(the report_freshness sensor does this after partitions update).",
)

ALL_JOBS = [retrospective_pull_job, prospective_processing_job, reports_job]
