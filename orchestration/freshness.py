"""Report freshness out of the box: the automation sensor for the whole-warehouse reports, running.

The report and analysis assets (groups ``reports`` and ``analytics``) carry
``assets.reports.REPORT_FRESHNESS``: requested once after any upstream partition was updated, not while
a backfill or the report is still running. Dagster evaluates automation conditions only in an automation
condition sensor, and its default one starts stopped; this sensor is declared running
(``default_status``), so ``dagster dev`` (or the daemon of a server deployment) refreshes the reports
after a backfill, a nightly pull or a prospective run with no one launching ``reports_job``. Switching
it off in the UI's *Automation* page is the way to stop it.
"""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import REPORT_GROUPS

REPORT_FRESHNESS_SENSOR = "report_freshness"

report_freshness = dg.AutomationConditionSensorDefinition(
    REPORT_FRESHNESS_SENSOR,
    target=dg.AssetSelection.groups(*REPORT_GROUPS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Refreshes the whole-warehouse reports (DRL audit, local DRLs, cumulative dose) and the "
    "analyses once "
    "their upstream dose partitions were updated and no upstream run is in progress.",
)
