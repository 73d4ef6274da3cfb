"""Benchmark: every analysis (and the physicist's report, where present) on generated warehouses of
100k and 1M instances on PostgreSQL; the cost must grow no faster than the row count.

The warehouses (``benchmarks/report_warehouse.py``) are written straight into the curated and dose
tables with COPY, each in a private schema of the server that is dropped afterwards. Analyses are timed
in alternating rounds (100k, 1M, 100k, ...) so that load from other processes hurts both alike; the
median of the rounds is printed for the whole call (with its plots) and for the time inside SQL
statements, with the growth ratio ``time(1M) / time(100k)`` against the row ratio 10.

Usage: ``python -m benchmarks.reports [--url postgresql+psycopg2://postgres@127.0.0.1:5432/test]
[--sizes 100000 1000000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from benchmarks.report_warehouse import DAYS, FIRST_DAY, generate, private_warehouse
from resources.analytics.catalog import ANALYSES, run_analysis

DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _report_timer(url: str, schema: str) -> Callable[[], object] | None:
    """The physicist's report over the whole period, if that package is present."""
    try:
        from resources.report import ReportRequest, build_report
    except ImportError:
        return None
    fields = getattr(ReportRequest, "__dataclass_fields__", {})
    values: dict[str, Any] = {
        "start": FIRST_DAY,
        "end": FIRST_DAY + dt.timedelta(days=DAYS),
        "warehouse_url": url,
    }
    if "schema" in fields:
        values["schema"] = schema
    optional = {"site_name": "benchmark", "drl_set": "uk_2022", "factor_set": "aapm96_icrp60"}
    values.update({name: value for name, value in optional.items() if name in fields})
    try:
        request = ReportRequest(**values)
    except TypeError:
        return None
    return lambda: build_report(request)


class StatementClock:
    """Time spent inside the database driver's execute calls (the SQL, without plotting)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started: list[float] = []

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *_args: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop()


def _timed(action: Callable[[], object], clock: StatementClock) -> tuple[float, float]:
    """(wall seconds, seconds inside SQL statements) of one run of ``action``."""
    clock.seconds = 0.0
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, clock.seconds


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    small_n, large_n = args.sizes
    labels = ("100k", "1M") if (small_n, large_n) == (100_000, 1_000_000) else (str(small_n), str(large_n))
    wall: dict[str, dict[str, list[float]]] = {label: {} for label in labels}
    sql: dict[str, dict[str, list[float]]] = {label: {} for label in labels}
    with contextlib.ExitStack() as stack:
        jobs: dict[str, dict[str, Callable[[], object]]] = {}
        clocks: dict[str, StatementClock] = {}
        for label, n in zip(labels, (small_n, large_n), strict=True):
            warehouse, schema = stack.enter_context(private_warehouse(args.url, label.lower()))
            started = time.perf_counter()
            counts = generate(warehouse, schema, n, args.seed)
            print(
                f"{label}: {counts['instance']:,} instances, {counts['study']:,} studies, "
                f"{counts['ct_acquisition']:,} CT acquisitions "
                f"generated in {time.perf_counter() - started:.1f} s"
            )
            engine = warehouse.engine
            clocks[label] = StatementClock()
            clocks[label].attach(engine)
            jobs[label] = {key: functools.partial(run_analysis, key, engine) for key in ANALYSES}
            report = _report_timer(args.url, schema)
            if report is not None:
                jobs[label]["report"] = report
        keys = list(jobs[labels[0]])
        for key in keys:  # warm-up: the first query of a schema pays for plans and cold caches
            for label in labels:
                jobs[label][key]()
        for _ in range(args.rounds):
            for key in keys:
                for label in labels:  # alternating: the two sizes share whatever else loads the machine
                    seconds, in_sql = _timed(jobs[label][key], clocks[label])
                    wall[label].setdefault(key, []).append(seconds)
                    if key != "report":  # the report opens its own engine: no statement clock there
                        sql[label].setdefault(key, []).append(in_sql)
    small, large = labels
    print(
        f"\nmedians of {args.rounds} alternating rounds; row ratio {large_n / small_n:.0f}\n"
        f"{'analysis':<17}{small + ' s':>9}{large + ' s':>9}{'growth':>8}"
        f"{small + ' SQL s':>13}{large + ' SQL s':>12}{'SQL growth':>12}"
    )
    for key in keys:
        w_small, w_large = _median(wall[small][key]), _median(wall[large][key])
        s_small, s_large = _median(sql[small].get(key, [])), _median(sql[large].get(key, []))
        print(
            f"{key:<17}{w_small:>9.3f}{w_large:>9.3f}{w_large / w_small:>8.2f}"
            f"{s_small:>13.3f}{s_large:>12.3f}{s_large / s_small:>12.2f}"
        )
    analyses_large = sum(_median(wall[large][k]) for k in ANALYSES)
    analyses_small = sum(_median(wall[small][k]) for k in ANALYSES)
    print(
        f"{'all analyses':<17}{analyses_small:>9.3f}{analyses_large:>9.3f}"
        f"{analyses_large / analyses_small:>8.2f}"
    )
    within = analyses_large < 60.0
    print(
        f"{large} case {'within' if within else 'NOT within'} a minute: "
        f"{analyses_large:.1f} s for every analysis"
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
