"""The Dagster face of the report engine: the site's report for a period, written to a folder."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from resources.report.build import ReportRequest, build_report
from resources.report.html_render import render_html
from resources.report.model import Report
from resources.report.pdf_render import render_pdf
from resources.site_resource import SiteConfigResource

REPORTS_FOLDER = "_reports"  # beside the research store's partition folders; no partition key starts so


@dataclass(frozen=True)
class WrittenReport:
    report: Report
    html: Path
    pdf: Path


def last_complete_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month before ``today``'s."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


class ReportResource(dg.ConfigurableResource):
    """Builds the report from the site's warehouse and writes it into the research store."""

    site: SiteConfigResource

    def request(self, start: dt.date, end: dt.date) -> ReportRequest:
        config = self.site.load()
        return ReportRequest(
            site_name=config.site_name,
            start=start,
            end=end,
            warehouse_url=config.warehouse_url(),
            drl_set=config.dose.drl_set,
            factor_set=config.dose.factor_set,
        )

    def folder_for(self, start: dt.date, end: dt.date) -> Path:
        """``<research>/_reports/<YYYY-MM>`` for a calendar month, else ``_reports/<from>_<to>``."""
        root = self.site.load().paths.research / REPORTS_FOLDER
        if start.day == 1 and (end + dt.timedelta(days=1)).day == 1 and start.month == end.month:
            return root / f"{start:%Y-%m}"
        return root / f"{start}_{end}"

    def write(self, start: dt.date, end: dt.date) -> WrittenReport:
        """Build and write the report for ``start``..``end``.

        Raises
        ------
        resources.report.errors.ReportError
            As :func:`~resources.report.build.build_report` (missing warehouse, empty period).
        """
        report = build_report(self.request(start, end))
        folder = self.folder_for(start, end)
        return WrittenReport(
            report, render_html(report, folder / "report.html"), render_pdf(report, folder / "report.pdf")
        )
