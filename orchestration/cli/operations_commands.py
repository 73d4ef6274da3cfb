"""Operations commands: ``dicom-lake listen``, ``dicom-lake health``, ``dicom-lake backfill``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestration.cli.errors import CommandError
from orchestration.cli.site import load_config
from resources.partition_keys import key_for
from resources.site_config import ListenerSettings, SiteConfig

DEFINITIONS_MODULE = "orchestration.definitions"
# The project's code location is "dicom_lake" (workspace.yaml, [tool.dagster]); a backfill launched
# under another location name (what `-m orchestration.definitions` gives) is not one the UI's daemon
# can launch, so the backfill loads the code through the same workspace file.
WORKSPACE_FILE = Path(__file__).resolve().parents[2] / "workspace.yaml"
BACKFILL_JOB = "retrospective_pull_job"


def register(subparsers: Any) -> None:
    listen = subparsers.add_parser(
        "listen", help="receive studies the PACS forwards (C-STORE SCP) into the spool; runs until stopped"
    )
    listen.add_argument("--port", type=int, help="TCP port (default: listener.port)")
    listen.add_argument("--ae-title", help="our AE title (default: listener.ae_title)")
    listen.add_argument("--bind", help="bind address (default: listener.bind_address)")
    listen.add_argument(
        "--workers",
        type=int,
        default=1,
        help="listener processes sharing the port (SO_REUSEPORT); 2-4 for several concurrent senders",
    )
    _source_option(listen, "the source whose forwards this listener receives (its sources: listener section)")
    listen.set_defaults(handler=run_listen_command)

    health = subparsers.add_parser("health", help="is the listener alive? (exit 0 alive, 1 down)")
    health.add_argument("--json", action="store_true", help="print the full report as JSON")
    _source_option(health, "the source whose listener to check")
    health.set_defaults(handler=run_health_command)

    backfill = subparsers.add_parser(
        "backfill",
        help="launch a backfill of retrospective_pull_job for a date range on the Dagster instance",
    )
    backfill.add_argument(
        "--from", dest="start", required=True, type=_date, help="first study date YYYY-MM-DD"
    )
    backfill.add_argument("--to", dest="end", required=True, type=_date, help="last study date YYYY-MM-DD")
    backfill.add_argument("--job", default=BACKFILL_JOB, help=argparse.SUPPRESS)
    backfill.add_argument("--definitions-module", default=DEFINITIONS_MODULE, help=argparse.SUPPRESS)
    backfill.add_argument(
        "--source",
        action="append",
        dest="sources",
        help="with several sources: the source to pull (repeat for more; default: every source)",
    )
    backfill.set_defaults(handler=run_backfill_command)


def _source_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--source", default=None, help=f"{text}; needed when the site file lists several")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from exc


def _config(args: argparse.Namespace) -> SiteConfig:
    return load_config(args.config)


def _listener_of(config: SiteConfig, source_name: str | None) -> tuple[ListenerSettings, str | None]:
    """The listener settings of the named source (or the only one) and the name its keys carry."""
    source = config.source_named(source_name, context="--source")
    if source.listener is None:
        raise CommandError(f"--source {source_name}: that source has no listener section in the site file")
    return source.listener, source.partition_source


# The command-line option behind each listener setting it can override, for messages.
_LISTEN_OPTIONS = {"port": "--port", "ae_title": "--ae-title", "bind_address": "--bind"}


def run_listen_command(args: argparse.Namespace) -> int:
    """Run the listener until stopped.

    Raises
    ------
    CommandError
        If an option or a listener setting cannot work (``--port 99999``, no allowed AE titles), the
        address cannot be bound (in use, not ours), or a spool or quarantine file cannot be written.
    """
    from resources.listener import ListenerConfigError, ListenerPlan, run_listener

    config = _config(args)
    listener, partition_source = _listener_of(config, args.source)
    updates: dict[str, Any] = {}
    if args.port is not None:
        updates["port"] = args.port
    if args.ae_title is not None:
        updates["ae_title"] = args.ae_title
    if args.bind is not None:
        updates["bind_address"] = args.bind
    try:
        settings = listener.model_validate({**listener.model_dump(), **updates})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        option = _LISTEN_OPTIONS.get(field)
        where = f"{option} {updates[field]!r}" if option and field in updates else f"listener.{field}"
        raise CommandError(f"{where}: {first['msg']} (listener.{field})") from exc
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # its INFO lines repeat ours
    plan = ListenerPlan(
        settings=settings,
        spool_root=config.paths.spool,
        quarantine_root=config.paths.quarantine,
        base_dir=config.base_dir,
        partition_source=partition_source,
    )
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    try:
        return run_listener(plan, workers=args.workers)
    except ListenerConfigError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        if exc.filename is not None:
            # The spool or quarantine (from folders.* in the site file) cannot be written.
            raise CommandError(f"{exc.filename}: {exc.strerror or exc}") from exc
        raise CommandError(
            f"cannot listen on {settings.bind_address}:{settings.port}: {exc.strerror or exc}"
        ) from exc


def run_health_command(args: argparse.Namespace) -> int:
    """Report on the listener; 0 alive, 1 down (a failed check)."""
    from resources.listener import check_health

    config = _config(args)
    listener, _ = _listener_of(config, args.source)
    report = check_health(config.paths.spool, listener.bind_address, listener.port)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    elif report.alive:
        stored = sum(int(p.get("instances_stored", 0)) for p in report.processes)
        print(
            f"listener alive: {len(report.processes)} process(es) on port {listener.port}, "
            f"{stored} instance(s) stored since start"
        )
    else:
        print("listener DOWN: " + "; ".join(report.problems))
    return 0 if report.alive else 1


def backfill_command_line(
    start: dt.date,
    end: dt.date,
    *,
    job: str = BACKFILL_JOB,
    module: str = DEFINITIONS_MODULE,
    sources: list[str] | None = None,
) -> list[str]:
    """The ``dagster job backfill`` command that launches the range on the configured instance.

    With sources, the partitions are listed one by one (date x source keys): ``--from``/``--to`` would
    slice Dagster's own ordering of the two dimensions, not a date range.
    """
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    if module == DEFINITIONS_MODULE and WORKSPACE_FILE.is_file():
        code = ["-w", str(WORKSPACE_FILE)]
    else:
        code = ["-m", module]
    if sources:
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        keys = [key_for(day, source) for day in days for source in sources]
        selection = ["--partitions", ",".join(keys)]
    else:
        selection = ["--from", start.isoformat(), "--to", end.isoformat()]
    return [
        dagster,
        "job",
        "backfill",
        *code,
        "-j",
        job,
        *selection,
        "--tags",
        json.dumps({"dicom-lake/trigger": "cli-backfill"}),
        "--noprompt",
    ]


def run_backfill_command(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.end < args.start:
        raise CommandError(f"--to {args.end} is before --from {args.start}")
    if args.start < config.partitions_start_date:
        raise CommandError(
            f"--from {args.start} is before the first partition ({config.partitions_start_date})"
        )
    if not os.environ.get("DAGSTER_HOME"):
        raise CommandError(
            "DAGSTER_HOME is not set: backfills are launched on a persistent Dagster instance "
            "(see orchestration/instance/)"
        )
    known = config.partition_sources
    unknown = sorted(set(args.sources or []) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none: the site file lists one source"
        raise CommandError(f"--source {', '.join(unknown)}: not a source of the site file ({listed})")
    sources = (args.sources or known) if known else None
    command = backfill_command_line(
        args.start, args.end, job=args.job, module=args.definitions_module, sources=sources
    )
    env = dict(os.environ)
    if args.config:
        env["DICOM_LAKE_CONFIG"] = os.path.abspath(args.config)
    days = (args.end - args.start).days + 1
    of_sources = f" of {', '.join(sources)}" if sources else ""
    print(f"launching {args.job} for {days} study date(s) {args.start} .. {args.end}{of_sources}")
    result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        raise CommandError(f"dagster job backfill failed (exit {result.returncode})")
    return 0
