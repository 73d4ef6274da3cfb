"""The embedded demo: a generated corpus in a pure-Python demo PACS, pulled through the whole chain.

``make demo`` (``dicom-lake demo``) needs no root, no network and no PACS of the user's own. It lays out
``var/demo`` (site file, data zones, SQLite warehouse) and ``var/dagster-home`` (a local Dagster
instance), starts the demo PACS on a free loopback port, runs the retrospective job for each day of
the demo week and then the reports, and prints a summary. Runs land in the Dagster instance, so
``make ui`` shows them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from resources.site_config import CONFIG_ENV_VAR, SECRET_KEY_ENV_VAR
from resources.spool.store import SpoolStore
from resources.warehouse.store import Warehouse

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_TEMPLATE = Path(__file__).resolve().parent / "instance" / "dagster.yaml"
DEMO_PACS_AE = "DEMO_PACS"
DEMO_LAKE_AE = "DICOM_LAKE"


@dataclass(frozen=True)
class DemoLayout:
    root: Path
    dagster_home: Path

    @property
    def config_path(self) -> Path:
        return self.root / "dicom-lake.yaml"

    @property
    def pacs_data(self) -> Path:
        return self.root / "pacs-data"

    @property
    def secret_path(self) -> Path:
        return self.root / ".secret-key"


@dataclass
class DemoSummary:
    partitions: list[str]
    studies_found: int = 0
    instances_retrieved: int = 0
    research_files: int = 0
    quarantined: int = 0
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    ct_dose_events: int = 0
    ct_dose_events_with_ssde: int = 0
    failed_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0


def default_layout() -> DemoLayout:
    var = Path(os.environ.get("DICOM_LAKE_DEMO_ROOT", REPO_ROOT / "var"))
    return DemoLayout(
        root=var / "demo", dagster_home=Path(os.environ.get("DAGSTER_HOME", var / "dagster-home"))
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_secret(layout: DemoLayout) -> str:
    """The site secret for the demo: the environment's if set, else a random one kept in var/demo."""
    from_env = os.environ.get(SECRET_KEY_ENV_VAR)
    if from_env:
        return from_env
    if layout.secret_path.exists():
        return layout.secret_path.read_text().strip()
    key = secrets.token_urlsafe(32)
    layout.secret_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def prepare_environment(layout: DemoLayout) -> None:
    """Point this process at the demo site file, secret and Dagster instance."""
    layout.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_file = layout.dagster_home / "dagster.yaml"
    if not instance_file.exists() and INSTANCE_TEMPLATE.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, instance_file)
    os.environ["DAGSTER_HOME"] = str(layout.dagster_home)
    os.environ[CONFIG_ENV_VAR] = str(layout.config_path)
    os.environ[SECRET_KEY_ENV_VAR] = demo_secret(layout)


def write_site_file(layout: DemoLayout, *, pacs_port: int, storage_port: int, listener_port: int) -> None:
    site = {
        "site_name": "dicom-lake demo",
        "partitions_start_date": "2026-01-01",
        "folders": {"root": "."},
        "pacs": {
            "host": "127.0.0.1",
            "port": pacs_port,
            "called_ae_title": DEMO_PACS_AE,
            "calling_ae_title": DEMO_LAKE_AE,
            "storage_scp_port": storage_port,
            "storage_scp_bind": "127.0.0.1",
        },
        "retrieval": {"policy": "metadata"},
        "selection": {"modalities": ["CT", "MG", "SR"]},
        "listener": {
            "bind_address": "127.0.0.1",
            "port": listener_port,
            "allowed_calling_ae_titles": [DEMO_PACS_AE],
            "quiet_period_s": 5,
        },
    }
    layout.config_path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `dicom-lake demo`: the embedded demo site (rewritten at every demo run).\n"
    layout.config_path.write_text(header + yaml.safe_dump(site, sort_keys=False))


def ensure_corpus(layout: DemoLayout, *, seed: int, studies: int, start: dt.date, days: int) -> int:
    """Generate the demo corpus once (kept between runs); returns the number of files."""
    from resources.corpus import CorpusSpec, generate_corpus

    marker = layout.pacs_data / "manifest.json"
    if not marker.exists():
        spec = CorpusSpec(seed=seed, n_studies=studies, start_date=start, days=days)
        tmp = layout.pacs_data.with_name("pacs-data.part")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_corpus(tmp, spec)
        shutil.rmtree(layout.pacs_data, ignore_errors=True)
        tmp.rename(layout.pacs_data)
    return sum(1 for _ in layout.pacs_data.rglob("*.dcm"))


def summarise(layout: DemoLayout, summary: DemoSummary) -> DemoSummary:
    """Counts of what the demo run left in each zone, read through each zone's own store."""
    spool_index = layout.root / "spool" / "index.sqlite"
    if spool_index.exists():
        spool = SpoolStore(layout.root / "spool")
        try:
            states = spool.partition_state_counts(summary.partitions)
            summary.studies_found = spool.pacs_study_count(summary.partitions)
        finally:
            spool.close()
        summary.instances_retrieved = sum(states.values())
        summary.quarantined = states.get("quarantined", 0)
    summary.research_files = sum(1 for _ in (layout.root / "research").rglob("*.dcm"))
    warehouse_file = layout.root / "warehouse.sqlite"
    if warehouse_file.exists():
        warehouse = Warehouse(f"sqlite:///{warehouse_file}")
        try:
            summary.warehouse_rows.update(warehouse.row_counts())
            summary.ct_dose_events, summary.ct_dose_events_with_ssde = warehouse.ssde_counts()
        finally:
            warehouse.dispose()
    return summary


def run_demo(
    *,
    seed: int = 2026,
    studies: int = 60,
    start: dt.date = dt.date(2026, 11, 9),
    days: int = 7,
    layout: DemoLayout | None = None,
) -> DemoSummary:
    """Run the whole chain on the embedded default and return what it produced."""
    layout = layout or default_layout()
    began = time.monotonic()
    prepare_environment(layout)
    n_files = ensure_corpus(layout, seed=seed, studies=studies, start=start, days=days)
    log.info("demo corpus: %d files in %s", n_files, layout.pacs_data)

    storage_port = free_port()
    from resources.pacs.demo_pacs import DemoPacs

    pacs = DemoPacs(
        layout.pacs_data,
        ae_title=DEMO_PACS_AE,
        port=0,
        known_destinations={DEMO_LAKE_AE: ("127.0.0.1", storage_port)},
    )
    pacs_port = pacs.start()
    try:
        write_site_file(layout, pacs_port=pacs_port, storage_port=storage_port, listener_port=free_port())
        # Imported only now: the Definitions read the environment prepared above.
        import dagster as dg

        from orchestration.definitions import defs

        partitions = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        summary = DemoSummary(partitions=partitions)
        instance = dg.DagsterInstance.get()
        pull = defs.resolve_job_def("retrospective_pull_job")
        for partition in partitions:
            result = pull.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False)
            if not result.success:
                summary.failed_runs.append(f"retrospective_pull_job {partition} (run {result.run_id})")
            log.info("partition %s: %s", partition, "ok" if result.success else "FAILED")
        reports = defs.resolve_job_def("reports_job")
        result = reports.execute_in_process(instance=instance, raise_on_error=False)
        if not result.success:
            summary.failed_runs.append(f"reports_job (run {result.run_id})")
    finally:
        pacs.stop()
    summary.seconds = time.monotonic() - began
    return summarise(layout, summary)


def format_summary(layout: DemoLayout, summary: DemoSummary) -> str:
    lines = [
        "",
        "dicom-lake demo finished"
        + (" WITH FAILURES" if summary.failed_runs else "")
        + f" in {summary.seconds:.0f} s",
        f"  partitions (study dates):  {summary.partitions[0]} .. {summary.partitions[-1]}",
        f"  studies found (C-FIND):    {summary.studies_found}",
        f"  instances retrieved:       {summary.instances_retrieved} (dose SRs + key images)",
        f"  de-identified files:       {summary.research_files}",
        f"  quarantined:               {summary.quarantined}",
        f"  CT dose events:            {summary.ct_dose_events} "
        f"({summary.ct_dose_events_with_ssde} with SSDE)",
        "  warehouse rows:            "
        + (", ".join(f"{t} {n}" for t, n in sorted(summary.warehouse_rows.items())) or "(none)"),
        "",
        "Where the data lies:",
        f"  site file        {layout.config_path}",
        f"  spool (identifiable, owner-only)  {layout.root / 'spool'}",
        f"  research store (de-identified)    {layout.root / 'research'}",
        f"  warehouse (SQLite)                {layout.root / 'warehouse.sqlite'}",
        f"  quarantine                        {layout.root / 'quarantine'}",
        f"  Dagster instance                  {layout.dagster_home}",
        "",
        "Open the Dagster UI on these runs:  make ui   (then http://127.0.0.1:3000)",
    ]
    for failed in summary.failed_runs:
        lines.append(f"  failed: {failed}")
    return "\n".join(lines)
