"""``dicom-lake demo`` and ``dicom-lake ui``: the embedded default, end to end, and its Dagster UI."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from orchestration.cli.errors import CommandError


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the whole chain on the embedded demo PACS (no network, no root)"
    )
    demo.add_argument("--seed", type=int, default=2026, help="corpus seed (default 2026)")
    demo.add_argument("--studies", type=int, default=60, help="studies in the demo corpus (default 60)")
    demo.add_argument(
        "--start", type=dt.date.fromisoformat, default=dt.date(2026, 11, 9), help="first study date"
    )
    demo.add_argument("--days", type=int, default=7, help="days of partitions (default 7)")
    demo.set_defaults(handler=run_demo_command)

    ui = subparsers.add_parser(
        "ui", help="open the Dagster UI on the demo instance (after `dicom-lake demo`)"
    )
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=run_ui_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the demo; 1 if a run failed.

    Raises
    ------
    CommandError
        If ``--studies`` or ``--days`` is below 1, or the demo folder cannot be written.
    """
    from orchestration.cli.site import writable_folder
    from orchestration.demo import default_layout, format_summary, run_demo

    for option, value in (("--studies", args.studies), ("--days", args.days)):
        if value < 1:
            raise CommandError(f"{option} {value}: must be at least 1")
    layout = default_layout()
    writable_folder(layout.root, "demo site")
    writable_folder(layout.dagster_home, "demo Dagster instance")
    summary = run_demo(seed=args.seed, studies=args.studies, start=args.start, days=args.days, layout=layout)
    print(format_summary(layout, summary))
    return 1 if summary.failed_runs else 0


def run_ui_command(args: argparse.Namespace) -> int:
    from orchestration.demo import default_layout, prepare_environment

    layout = default_layout()
    if not layout.config_path.exists():
        raise CommandError("no demo site yet: run `make demo` (dicom-lake demo) first")
    prepare_environment(layout)
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    # The workspace file names the code location "dicom_lake", as `dicom-lake backfill` does.
    workspace = str(Path(__file__).resolve().parents[2] / "workspace.yaml")
    os.execv(dagster, [dagster, "dev", "-w", workspace, "-h", "127.0.0.1", "-p", str(args.port)])
    return 0  # not reached
