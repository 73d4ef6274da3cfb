"""Two sources end to end: the demo PACS and Orthanc in one site file, pulled as date x source partitions.

The project's Definitions run in a process of their own whose ``$DICOM_LAKE_CONFIG`` lists both
sources (the partitions are fixed when ``assets`` is imported, see tests/sources/two_source_runs.py),
on a SQLite Dagster instance with Dagster's default (multiprocess) executor. Each source's studies must
land under its own key, in the warehouse and in the folders; a rerun of one source's partition must
replace that source's rows only; the report's and the analyses' period filters must count both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resources.partition_keys import folder_name, parse
from resources.site_config import load_site_config
from tests.peers import free_port
from tests.sources.two_sources import (
    DAY_KEYS,
    DEMO,
    DEMO_PACS_AE,
    LAKE_AE,
    ORTHANC,
    SECRET,
    SOURCES,
    SourceCorpus,
    SourcePeer,
    all_keys,
    make_corpus,
    rows_by_partition,
    run_ids_by_partition,
    study_uids_by_partition,
    write_two_source_site,
)

pytestmark = [pytest.mark.orthanc, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_TEMPLATE = REPO_ROOT / "orchestration" / "instance" / "dagster.yaml"


@dataclass
class TwoSourceSite:
    root: Path
    site_file: Path
    env: dict[str, str]
    corpora: dict[str, SourceCorpus]
    first_runs: list[dict[str, Any]]

    @property
    def warehouse(self) -> str:
        return load_site_config(self.site_file).warehouse_url()

    def drive(self, command: str, *args: str, timeout_s: float = 600) -> dict[str, Any]:
        """``tests.sources.two_source_runs`` in a process of its own; its JSON answer."""
        out = self.root / f"{command}-{len(list(self.root.glob('*.json')))}.json"
        done = subprocess.run(
            [sys.executable, "-m", "tests.sources.two_source_runs", command, str(out), *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        answer: dict[str, Any] = json.loads(out.read_text())
        return answer


def _env(site_file: Path, home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DICOM_LAKE_CONFIG": str(site_file),
        "DICOM_LAKE_SECRET_KEY": SECRET,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    # Dagster's default executor, the site file's warehouse and partitions start.
    for name in ("DICOM_LAKE_EXECUTOR", "DICOM_LAKE_WAREHOUSE_URL", "DICOM_LAKE_PARTITIONS_START"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def two_sources(orthanc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoSourceSite]:
    from resources.pacs.demo_pacs import DemoPacs

    root = tmp_path_factory.mktemp("two-sources")
    corpora = {
        DEMO: make_corpus(root / "demo-archive", seed=31, n_studies=6),
        ORTHANC: make_corpus(root / "orthanc-archive", seed=37, n_studies=4),
    }
    orthanc.peer.clear()
    orthanc.peer.upload(corpora[ORTHANC].files())
    demo_lake_port = free_port()
    pacs = DemoPacs(
        corpora[DEMO].folder, DEMO_PACS_AE, known_destinations={LAKE_AE: ("127.0.0.1", demo_lake_port)}
    )
    peers = {
        DEMO: SourcePeer(pacs.start(), DEMO_PACS_AE, demo_lake_port),
        ORTHANC: SourcePeer(orthanc.peer.dicom_port, orthanc.peer.ae_title, orthanc.lake_port),
    }
    try:
        site_file = write_two_source_site(root / "site" / "dicom-lake.yaml", peers)
        home = root / "dagster-home"
        home.mkdir()
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
        site = TwoSourceSite(root, site_file, _env(site_file, home), corpora, [])
        site.first_runs = site.drive("run", *all_keys())["runs"]
        yield site
    finally:
        pacs.stop()


def test_the_definitions_partition_by_date_and_source(two_sources: TwoSourceSite) -> None:
    described = two_sources.drive("describe")
    assert described["module_partitions"] == "MultiPartitionsDefinition"
    assert described["job_partitions"] == "MultiPartitionsDefinition"
    assert described["dimensions"] == {
        "date": "DailyPartitionsDefinition",
        "source": "StaticPartitionsDefinition",
    }
    assert described["sources"] == list(SOURCES)


def test_every_run_succeeds_and_carries_its_source_tag(two_sources: TwoSourceSite) -> None:
    runs = two_sources.first_runs
    assert [r["key"] for r in runs] == all_keys()
    assert all(r["success"] for r in runs), runs
    for run in runs:
        ref = parse(run["key"])
        assert run["tags"]["dagster/partition"] == run["key"]
        assert run["tags"]["dagster/partition/source"] == ref.source
        assert run["tags"]["dagster/partition/date"] == ref.day.isoformat()


def test_each_source_lands_under_its_own_key(two_sources: TwoSourceSite) -> None:
    held = study_uids_by_partition(two_sources.warehouse)
    expected = {
        f"{day}|{source}": two_sources.corpora[source].research_uids(day)
        for day in DAY_KEYS
        for source in SOURCES
    }
    assert all(expected.values()), "every source must have studies on every date"
    assert held == expected
    # Every row of every partitioned table names its source in its key.
    keys = set(rows_by_partition(two_sources.warehouse))
    assert keys == set(all_keys())
    assert {parse(k).source for k in keys} == set(SOURCES)


def test_spool_and_research_folders_are_date_at_source(two_sources: TwoSourceSite) -> None:
    paths = load_site_config(two_sources.site_file).paths
    wanted = {folder_name(key) for key in all_keys()}
    assert wanted == {f"{day}@{source}" for day in DAY_KEYS for source in SOURCES}
    for zone in (paths.spool, paths.research):
        folders = {p.name for p in zone.iterdir() if p.is_dir() and not p.name.startswith(".")}
        assert wanted <= folders, zone
        assert not any("|" in name for name in folders), zone
        for key in all_keys():
            assert any((zone / folder_name(key)).rglob("*.dcm")), f"{zone}: no file under {key}"


def test_report_and_analytics_periods_count_both_sources(two_sources: TwoSourceSite) -> None:
    from resources.analytics.sql import Period
    from resources.report.build import ReportRequest, build_header

    held = study_uids_by_partition(two_sources.warehouse)
    first, last = dt.date.fromisoformat(DAY_KEYS[0]), dt.date.fromisoformat(DAY_KEYS[-1])
    engine = sa.create_engine(two_sources.warehouse)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            for start, end in ((first, last), (last, last)):
                in_period = {k: v for k, v in held.items() if start.isoformat() <= k[:10] <= end.isoformat()}
                request = ReportRequest(
                    site_name="two sources",
                    start=start,
                    end=end,
                    warehouse_url=two_sources.warehouse,
                    drl_set="uk_2022",
                    factor_set="aapm96_icrp60",
                )
                header = build_header(connection, request, tables, dt.datetime(2026, 12, 1))
                assert header.n_studies == sum(len(v) for v in in_period.values())
                assert header.n_partitions == len(in_period) == 2 * ((end - start).days + 1)

                study = sa.table("study", sa.column("partition_key"), sa.column("study_instance_uid"))
                counted = connection.execute(
                    sa.select(study.c.partition_key, sa.func.count())
                    .where(*Period(start, end).clauses(study.c.partition_key))
                    .group_by(study.c.partition_key)
                ).all()
                assert {str(k): int(n) for k, n in counted} == {k: len(v) for k, v in in_period.items()}
    finally:
        engine.dispose()


def test_a_schedule_tick_requests_one_run_per_source(two_sources: TwoSourceSite) -> None:
    tick = two_sources.drive("tick", "2026-11-11T01:00:00+00:00")
    requests = tick["requests"]
    assert sorted(r["partition_key"] for r in requests) == [f"2026-11-10|{s}" for s in sorted(SOURCES)]
    assert len({r["run_key"] for r in requests}) == len(SOURCES)


def test_rerunning_one_source_replaces_only_its_rows(two_sources: TwoSourceSite) -> None:
    url = two_sources.warehouse
    before, runs_before = rows_by_partition(url), run_ids_by_partition(url)
    target = f"{DAY_KEYS[0]}|{ORTHANC}"
    (rerun,) = two_sources.drive("run", target)["runs"]
    assert rerun["success"]
    after, runs_after = rows_by_partition(url), run_ids_by_partition(url)

    # The rerun partition now holds the new run's rows only, the same rows as before (nothing doubled).
    assert runs_after[target] == {rerun["run_id"]}
    assert runs_before[target] != runs_after[target]
    assert after[target] == before[target]
    # The other source's partition of the same date, and every other partition, were not touched.
    for key in set(before) - {target}:
        assert runs_after[key] == runs_before[key], key
        assert after[key] == before[key], key
    assert {k: {t: len(r) for t, r in v.items()} for k, v in after.items()} == {
        k: {t: len(r) for t, r in v.items()} for k, v in before.items()
    }
