"""What the scale tests read back: step events from the instance, warehouse rows, spool counts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from resources.site_config import load_site_config
from resources.spool.store import SpoolStore

PACS_STEPS = frozenset({"pacs_study_index", "retrieved_instances"})
# Columns that differ between two executions of the same partition by design.
RUN_COLUMNS = frozenset({"id", "run_id", "processed_at"})
# Measurements of when an execution received the instance: compared by presence, not value.
TIMING_COLUMNS = frozenset({"arrival_delay_s"})
STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}


def runs_of(instance: dg.DagsterInstance, partition: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition})))


def step_entries(instance: dg.DagsterInstance, run_id: str) -> list[dg.EventLogEntry]:
    return [e for e in instance.all_logs(run_id, of_type=STEP_EVENTS) if e.step_key]


def start_pids(entries: Iterable[dg.EventLogEntry], step: str | None = None) -> list[int]:
    return [
        int(e.dagster_event.pid)
        for e in entries
        if e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
        and e.dagster_event.pid is not None
        and (step is None or e.step_key == step)
    ]


def step_intervals(entries: Iterable[dg.EventLogEntry], steps: frozenset[str]) -> list[tuple[float, float]]:
    """(start, end) of every execution of the given steps, from the event log's own timestamps."""
    open_at: dict[tuple[str, str], float] = {}
    intervals: list[tuple[float, float]] = []
    for entry in sorted(entries, key=lambda e: e.timestamp):
        if entry.step_key not in steps or entry.dagster_event is None:
            continue
        key = (entry.run_id, entry.step_key)
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            open_at[key] = entry.timestamp
        elif key in open_at:
            intervals.append((open_at.pop(key), entry.timestamp))
    return intervals


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals in progress at one moment (an end at the same instant as a start does not count)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def _key(value: Any) -> str:
    return repr(value)


def warehouse_rows(url: str, partitions: Iterable[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the partitions in every partitioned table, without its run columns, sorted."""
    wanted = sorted(partitions)
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        rows: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as con:
            for name, table in sorted(metadata.tables.items()):
                if name.startswith("alembic") or "partition_key" not in table.c:
                    continue
                columns = [
                    c.is_(None).label(c.name) if c.name in TIMING_COLUMNS else c
                    for c in table.c
                    if c.name not in RUN_COLUMNS
                ]
                query = sa.select(*columns).where(table.c.partition_key.in_(wanted))
                found = [tuple(r) for r in con.execute(query)]
                rows[name] = sorted(found, key=lambda r: tuple(_key(v) for v in r))
        return rows
    finally:
        engine.dispose()


def spool_counts(site_file: Path, partitions: list[str]) -> dict[str, int]:
    spool = SpoolStore(load_site_config(site_file).paths.spool)
    try:
        return dict(spool.partition_state_counts(partitions))
    finally:
        spool.close()
