"""``dicom-lake partitions adopt --source NAME``: a one-source lake's partitions become one source's.

A site that pulled from one PACS keys its partitions by study date (``2026-11-09``). Once its site file
lists a second source, partitions are date x source and the existing data must carry the first
source's name (``2026-11-09|west``), or a rerun of that partition would add its studies a second time
beside the old rows. This renames the keys in the warehouse, the spool index and the folders of the
spool, research store and quarantine; it is idempotent (run it again after an interruption). Stop
the listener and let no run be in progress while it runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from orchestration.cli.errors import CommandError
from orchestration.cli.site import load_config
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.spool.store import SpoolStore
from resources.warehouse.source_adoption import adopt_date_keys
from resources.warehouse.store import Warehouse


def register(subparsers: Any) -> None:
    partitions = subparsers.add_parser("partitions", help="manage partition keys (several sources)")
    commands = partitions.add_subparsers(dest="partitions_command", required=True, metavar="COMMAND")
    adopt = commands.add_parser(
        "adopt",
        help="give the date-only partitions of a one-source lake the name of one of the site's sources",
    )
    adopt.add_argument("--source", required=True, help="the source the existing partitions came from")
    adopt.add_argument("--dry-run", action="store_true", help="count what would be renamed; change nothing")
    adopt.set_defaults(handler=run_adopt)


def run_adopt(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.source not in config.partition_sources:
        listed = ", ".join(config.partition_sources) or "none: it lists fewer than two"
        raise CommandError(f"--source {args.source}: not a source of the site file's sources ({listed})")
    paths = config.paths
    warehouse = Warehouse(config.warehouse_url())
    warehouse.upgrade()  # revision 0008 widens partition_key before any key grows
    rows = adopt_date_keys(warehouse, args.source, dry_run=args.dry_run)
    spool = SpoolStore(paths.spool).adopt_date_keys(args.source, dry_run=args.dry_run)
    research = ResearchStore(paths.research).adopt_date_keys(args.source, dry_run=args.dry_run)
    quarantine = QuarantineStore(paths.quarantine).adopt_date_keys(args.source, dry_run=args.dry_run)
    verb = "would rename" if args.dry_run else "renamed"
    print(f"{verb} to source {args.source}:")
    print(f"  warehouse rows       {sum(rows.values()):>8}  ({sum(1 for n in rows.values() if n)} tables)")
    spool_rows = sum(n for table, n in spool.items() if table != "folders")
    print(f"  spool index rows     {spool_rows:>8}  (folders {spool['folders']})")
    print(f"  research folders     {research:>8}")
    print(f"  quarantine folders   {quarantine:>8}")
    if not args.dry_run:
        print(
            "Backfill the renamed dates for this source to show them materialised in Dagster; reruns replace."
        )
    return 0
