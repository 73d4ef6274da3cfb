"""``dicom-lake export``: chosen warehouse tables for a date range, as CSV or Parquet."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from orchestration.cli.errors import CommandError
from orchestration.cli.site import load_config, writable_folder
from resources.warehouse.export import ExportError, export_tables
from resources.warehouse.store import Warehouse

DEFAULT_TABLES = "patient,study,series,instance,device,ct_acquisition,mg_exposure,quality_flag"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = subparsers.add_parser(
        "export",
        help="write warehouse tables for a date range to CSV or Parquet",
        description="Write warehouse tables for a range of partitions (source study dates) to files. "
        "Partition and run columns are left out unless --with-lineage is given: the partition key is "
        "the unshifted study date, which the de-identified data must not carry.",
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        default=[DEFAULT_TABLES],
        help=f"table names, separated by spaces or commas (default: {DEFAULT_TABLES})",
    )
    parser.add_argument("--from", dest="start", type=_date, required=True, help="first partition date")
    parser.add_argument("--to", dest="end", type=_date, required=True, help="last partition date (inclusive)")
    parser.add_argument("--format", dest="fmt", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--out", type=Path, help="output folder (default: the site's exports folder)")
    parser.add_argument(
        "--with-lineage",
        action="store_true",
        help="keep partition_key, run_id and processed_at (internal use only: not for researchers)",
    )
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Write the chosen tables; a bad site file, table name or range stops it with one line.

    Raises
    ------
    resources.site_config.SiteConfigError
        If the site file is missing, not YAML or invalid (the message names the file).
    CommandError
        If ``--tables`` names no table, the output folder cannot be written, or the warehouse cannot
        be opened or has no tables yet.
    resources.warehouse.export.ExportError
        If a table is unknown or ``--to`` is before ``--from`` (the CLI prints it as one line).
    """
    config = load_config(args.config)
    tables = [name.strip() for item in args.tables for name in item.split(",") if name.strip()]
    if not tables:
        raise CommandError("--tables names no table")
    out_dir: Path = args.out or config.paths.exports / f"{args.start}_{args.end}"
    url = config.warehouse_url()
    # The URL as shown in messages: a PostgreSQL password must not reach a terminal or a ticket.
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    warehouse = Warehouse(url)
    try:
        try:
            known = warehouse.table_names()
        except sa.exc.SQLAlchemyError as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            raise CommandError(f"warehouse {shown}: cannot be read: {reason}") from exc
        if not [name for name in known if not name.startswith("alembic")]:
            raise CommandError(f"warehouse {shown}: has no tables yet (no partition has been curated)")
        created = not out_dir.exists()
        writable_folder(out_dir, "export")
        try:
            results = export_tables(
                warehouse,
                tables,
                start=args.start,
                end=args.end,
                fmt=args.fmt,
                out_dir=out_dir,
                with_lineage=args.with_lineage,
            )
        except ExportError:
            # A refused request (unknown table, reversed range) leaves no empty folder behind.
            if created:
                with contextlib.suppress(OSError):
                    out_dir.rmdir()
            raise
    finally:
        warehouse.dispose()
    for item in results:
        print(f"{item.table}: {item.rows} rows -> {item.path}")
    return 0
