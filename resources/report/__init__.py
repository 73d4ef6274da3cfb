"""The physicist's report: one self-contained HTML file and a PDF for a period of source study dates.

The report reads the warehouse (read-only, aggregated in SQL) and the department analyses, and renders
sections (DRL audit, effective and cumulative dose, activity, workflow, population, data quality),
each with a short explanation, tables and plots. Nothing identifying reaches it: patients appear only
as pseudonyms and the only free text is normalised exam names and curated device labels.
"""

from resources.report.build import ReportRequest, build_report
from resources.report.errors import EmptyPeriodError, ReportError, WarehouseMissingError
from resources.report.html_render import render_html
from resources.report.model import Report, ReportFigure, ReportTable, Section
from resources.report.pdf_render import render_pdf

__all__ = [
    "EmptyPeriodError",
    "Report",
    "ReportError",
    "ReportFigure",
    "ReportRequest",
    "ReportTable",
    "Section",
    "WarehouseMissingError",
    "build_report",
    "render_html",
    "render_pdf",
]
