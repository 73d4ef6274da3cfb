"""``dicom-lake worker``: a celery worker running the project's steps for runs on the celery executor.

Start one or more on every machine that should run steps, each with the site file and the queues it
serves: ``--queues pacs`` next to the archive (PACS-facing steps), ``--queues cpu`` where the cores
are. Every worker must see the same data zones (spool, research store, quarantine: a shared
filesystem), reach the same broker (``$DICOM_LAKE_CELERY_BROKER``) and the Dagster instance database.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from orchestration.cli.errors import CommandError
from orchestration.cli.site import load_config, site_file_in_use, writable_folder
from orchestration.executors import (
    BROKER_ENV_VAR,
    EXECUTOR_ENV_VAR,
    PACS_POOL,
    QUEUES,
    broker_url,
    queue_name,
)
from resources.site_config import CONFIG_ENV_VAR
from resources.store_identity import read_store_identity


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the project's steps for runs on the celery executor (RabbitMQ or Redis broker)",
    )
    worker.add_argument(
        "--queues",
        default=",".join(QUEUES),
        help=f"comma-separated queues to serve: {', '.join(QUEUES)} (default: all)",
    )
    worker.add_argument("--name", help="worker name (default: dicom-lake-<pid>@<host>)")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="steps at once; 1 runs them in the worker's own process, more in child processes",
    )
    worker.add_argument("--broker", help=f"broker URL (default: ${BROKER_ENV_VAR} or RabbitMQ on 127.0.0.1)")
    worker.add_argument("--loglevel", default="INFO", help="celery log level (default INFO)")
    worker.set_defaults(handler=run_worker_command)


def _queues(text: str) -> list[str]:
    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if not names or unknown:
        raise CommandError(f"--queues {text!r}: choose among {', '.join(QUEUES)}")
    return names


def safe_url(url: str) -> str:
    """The broker URL without its password, for messages."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def check_broker(app: Any) -> None:
    """Raise unless the broker answers (one try, a few seconds).

    Raises
    ------
    CommandError
        Naming the broker (without its password) and the reason.
    """
    url = str(app.conf.broker_url)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu raises its own, socket and library errors alike
        raise CommandError(f"broker {safe_url(url)}: cannot connect: {exc}") from exc


def initialise_pools(instance: Any) -> None:
    """Give the archive's pool its row in the instance database before any run claims a slot.

    Dagster creates a pool's row at the first claim; on PostgreSQL, runs that start together and
    claim first race to insert it, and the loser's step fails (a unique violation inside an aborted
    transaction). A worker starts before the runs it serves, so it creates the row once here.
    """
    storage = instance.event_log_storage
    if PACS_POOL in storage.get_concurrency_keys():
        return
    try:
        storage.initialize_concurrency_limit_to_default(PACS_POOL)
    except Exception:  # another worker starting at the same moment created it: check it is there
        if PACS_POOL not in storage.get_concurrency_keys():
            raise


def check_instance() -> None:
    """Raise unless the Dagster instance of ``$DAGSTER_HOME`` (when set) answers.

    Each step brings a reference to its run's instance, but a worker that cannot reach the instance
    database would fail every step it takes: better one clear line at start-up.

    Raises
    ------
    CommandError
        Naming the instance file and the reason (its first line).
    """
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    from dagster import DagsterInstance

    try:
        with DagsterInstance.get() as instance:
            instance.get_runs(limit=1)
            initialise_pools(instance)
    except Exception as exc:  # the storage's driver raises its own errors
        reason = _deepest_reason(exc)
        raise CommandError(
            f"{Path(home) / 'dagster.yaml'}: cannot reach the Dagster instance: {reason}"
        ) from exc


def _deepest_reason(exc: BaseException) -> str:
    """The first line of the innermost cause: the storage wraps the driver's error (which names the
    server and port) in one of its own that says only that it gave up."""
    reason = type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        line = next((text.strip() for text in str(seen).splitlines() if text.strip()), "")
        if line:
            reason = line
        seen = seen.__cause__ or seen.__context__
    return reason


def run_worker_command(args: argparse.Namespace) -> int:
    """Check the site, data zones, instance and broker, then serve steps until stopped.

    Raises
    ------
    CommandError
        If a queue name, the concurrency, a data zone, the instance or the broker cannot work.
    """
    queues = _queues(args.queues)
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    config = load_config(args.config)
    used = site_file_in_use(args.config)
    # The step code reads the site file through the environment, as a run's own process does.
    if used is not None:
        os.environ[CONFIG_ENV_VAR] = str(used)
    os.environ.setdefault(EXECUTOR_ENV_VAR, "celery")
    if args.broker:
        os.environ[BROKER_ENV_VAR] = args.broker
    paths = config.paths
    for folder, what in (
        (paths.spool, "spool"),
        (paths.research, "research store"),
        (paths.quarantine, "quarantine"),
    ):
        writable_folder(folder, what)
    identity = read_store_identity(paths)
    for zone, value in sorted(identity.zones.items()):
        print(f"dicom-lake: {zone} {identity.folders[zone]} (store identity {value})", file=sys.stderr)

    check_instance()
    from orchestration.celery_app import app

    # The app reads the broker from the environment when first imported, which may have been before
    # --broker set it (a caller in the same process): the command's own choice wins.
    app.conf.broker_url = broker_url()
    if args.concurrency == 1:
        # A solo worker runs the step in the process that would answer the broker's heartbeats:
        # a step longer than the heartbeat timeout would have its connection closed and be handed
        # to another worker. Without heartbeats a restarted broker still closes the connection
        # itself, and a lost host is found by TCP keepalive.
        app.conf.broker_heartbeat = 0
    check_broker(app)
    name = args.name or f"dicom-lake-{os.getpid()}"
    argv = [
        "worker",
        "--queues",
        ",".join(queue_name(q) for q in queues),
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--pool",
        "solo" if args.concurrency == 1 else "prefork",
        "--concurrency",
        str(args.concurrency),
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        args.loglevel,
        # Workers need not know each other: skip the start-up exchange that costs a second or more.
        "--without-gossip",
        "--without-mingle",
    ]
    print(
        f"dicom-lake: worker {name} on {safe_url(str(app.conf.broker_url))}, queues {', '.join(queues)}",
        file=sys.stderr,
    )
    app.worker_main(argv=argv)
    return 0
