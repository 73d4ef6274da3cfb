"""The report a physicist hands on, for the last complete calendar month (group ``reports``).

The same report as ``dicom-lake report`` (one self-contained HTML file and a PDF), written into the
research store under ``_reports/<YYYY-MM>/``; the run configuration ``month`` picks another month. Not
automated: ``reports_job`` builds it with the other reports, or it is materialised by hand. A month
without curated studies writes nothing and says so in the metadata.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from assets.analytics import activity, data_quality, device_map, population, workflow_timing
from assets.owners import MEDICAL_PHYSICS
from assets.queues import CPU_STEP
from assets.reports import drl_audit, patient_cumulative_dose
from resources.report.errors import EmptyPeriodError
from resources.report.resource import ReportResource, last_complete_month


class PhysicsReportConfig(dg.Config):
    """Run configuration: ``month`` (``YYYY-MM``) to report on another month than the last complete one."""

    month: str | None = None


def report_month(config: PhysicsReportConfig, today: dt.date) -> tuple[dt.date, dt.date]:
    """The month to report on: the configured one, else the last complete month before ``today``.

    Raises
    ------
    dagster.Failure
        If ``month`` is not ``YYYY-MM``.
    """
    if config.month is None:
        return last_complete_month(today)
    try:
        first = dt.date.fromisoformat(f"{config.month}-01")
    except ValueError as exc:
        raise dg.Failure(f"month {config.month!r}: not YYYY-MM") from exc
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


@dg.asset(
    owners=MEDICAL_PHYSICS,
    op_tags=CPU_STEP,
    group_name="reports",
    code_version="physics-report-1",
    kinds={"python", "html", "pdf"},
    deps=[
        drl_audit,
        patient_cumulative_dose,
        activity,
        device_map,
        workflow_timing,
        population,
        data_quality,
    ],
    description="The physicist's report for the last complete calendar month (source study dates): DRL "
    "audit, effective and cumulative dose, activity, workflow, population and data quality, as one "
    "self-contained HTML file and a PDF in the research store (_reports/YYYY-MM).",
)
def physics_report(
    context: dg.AssetExecutionContext, config: PhysicsReportConfig, report: ReportResource
) -> dg.MaterializeResult:
    zone = ZoneInfo(report.site.load().schedule.timezone)
    start, end = report_month(config, dt.datetime.now(zone).date())
    try:
        written = report.write(start, end)
    except EmptyPeriodError as exc:
        context.log.info(str(exc))
        return dg.MaterializeResult(
            metadata={
                "period": f"{start} to {end}",
                "written": False,
                "reason": "no curated study in the month",
            }
        )
    sections = written.report.sections
    return dg.MaterializeResult(
        metadata={
            "period": f"{start} to {end}",
            "written": True,
            "studies": written.report.header.n_studies,
            "sections": len(sections),
            "plots": sum(len(s.figures) for s in sections),
            "html": dg.MetadataValue.path(str(written.html)),
            "pdf": dg.MetadataValue.path(str(written.pdf)),
        }
    )
