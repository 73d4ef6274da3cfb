"""``dicom-lake report``: the physicist's report for a period, as one HTML file and a PDF."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

from orchestration.cli.site import load_config, writable_folder
from resources.report import ReportRequest, build_report, render_html, render_pdf

HTML_NAME = "report.html"
PDF_NAME = "report.pdf"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = subparsers.add_parser(
        "report",
        help="write the dose and activity report for a period (one HTML file and a PDF)",
        description="Write DIR/report.html (self-contained: plots embedded, opens without network) and "
        "DIR/report.pdf with the DRL audit, effective and cumulative dose, activity, workflow, "
        "population and data quality for a period of source study dates (partition keys). Only "
        "pseudonyms, normalised exam names and curated device labels appear; the warehouse is only read.",
    )
    parser.add_argument("--from", dest="start", type=_date, required=True, help="first source study date")
    parser.add_argument(
        "--to", dest="end", type=_date, required=True, help="last source study date (inclusive)"
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: the site's exports folder, report_FROM_TO)"
    )
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Build the report and write both files; nothing is written when the period cannot be reported.

    Raises
    ------
    resources.site_config.SiteConfigError
        If the site file is missing, not YAML or invalid (the message names the file).
    resources.report.ReportError
        If the warehouse does not exist or has no curated tables, the period holds no curated study or
        ends before it starts, or a query fails (one line: warehouse, period and reason).
    orchestration.cli.errors.CommandError
        If the output folder cannot be written.
    """
    # fontTools logs every font it subsets into the PDF, matplotlib its unit guesses, both at INFO:
    # noise on a terminal, not news for the reader.
    for noisy in ("fontTools", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(args.config)
    request = ReportRequest(
        site_name=config.site_name,
        start=args.start,
        end=args.end,
        warehouse_url=config.warehouse_url(),
        drl_set=config.dose.drl_set,
        factor_set=config.dose.factor_set,
    )
    # Built before the folder is made, so a refused period leaves no empty folder behind.
    report = build_report(request)
    out_dir: Path = args.out or config.paths.exports / f"report_{args.start}_{args.end}"
    writable_folder(out_dir, "report")
    html = render_html(report, out_dir / HTML_NAME)
    pdf = render_pdf(report, out_dir / PDF_NAME)
    print(f"report: {report.header.n_studies} studies, {len(report.sections)} sections")
    print(f"html: {html}")
    print(f"pdf: {pdf}")
    return 0
