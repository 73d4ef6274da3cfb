"""PostgreSQL (a private cluster) restarted while a partition's curation is writing.

The run must fail cleanly with one error of the warehouse that names the warehouse and says why, the
partition's previous rows must stay exactly as they were, and a rerun must replace them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from resources.corpus import CorpusSpec, generate_corpus
from resources.curation import PartitionCurator
from resources.errors import DicomLakeError
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.tables import CURATION_TABLES
from tests.faults.conftest import PrivatePostgres

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

PARTITION = "2026-11-10"
BATCH = 40
RESTART_AT = 100  # files read (so two batches of 40 were sent) when the server is restarted


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("corpus")
    generate_corpus(folder, CorpusSpec(seed=16, n_studies=30, header_only=True, ct_images_per_series=2))
    manifest = json.loads((folder / "manifest.json").read_text())
    files = sorted(folder.rglob("*.dcm"))
    assert len(files) == manifest["n_files"] > RESTART_AT
    return files


def _curate(warehouse: Warehouse, files: Any, run: str) -> Any:
    with warehouse.writing_partition(Lineage(PARTITION, run), CURATION_TABLES, batch_size=BATCH) as writer:
        return PartitionCurator().curate(files, writer)


def _rows(warehouse: Warehouse) -> dict[str, list[tuple[str, ...]]]:
    rows: dict[str, list[tuple[str, ...]]] = {}
    for table in CURATION_TABLES:
        name = str(table.__tablename__)
        frame = warehouse.read_frame(f"SELECT * FROM {name} WHERE partition_key = :pk", {"pk": PARTITION})
        frame = frame.drop(columns=[c for c in ("id",) if c in frame.columns])
        rows[name] = sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))
    return rows


def test_postgres_restarted_mid_write_fails_cleanly_keeps_the_rows_and_the_rerun_replaces_them(
    private_postgres: PrivatePostgres, corpus_files: Sequence[Path]
) -> None:
    warehouse = Warehouse(private_postgres.url)
    try:
        warehouse.upgrade()
        first = _curate(warehouse, corpus_files[:60], run="first")
        before = _rows(warehouse)
        assert len(before["instance"]) == first.rows["instance"] == 60
        restarted: list[bool] = []

        def restart_mid_write() -> Iterator[Path]:
            for index, path in enumerate(corpus_files):
                if index == RESTART_AT:
                    # The write transaction is open and two batches are in it: the server dies and
                    # recovers (pg_ctl waits until it accepts connections again).
                    private_postgres.restart_immediately()
                    restarted.append(True)
                yield path

        with pytest.raises(DicomLakeError) as caught:
            _curate(warehouse, restart_mid_write(), run="interrupted")
        assert restarted == [True]
        message = str(caught.value)
        assert f"127.0.0.1:{private_postgres.port}/postgres" in message
        assert "INSERT" not in message and "parameters" not in message  # one line, no SQL, no row values
        assert "\n" not in message
        assert caught.value.__cause__ is not None  # the driver's error is kept as the cause
        assert _rows(warehouse) == before  # nothing of the interrupted run, nothing of the old rows lost

        rerun = _curate(warehouse, corpus_files, run="rerun")
        after = _rows(warehouse)
        assert len(after["instance"]) == rerun.rows["instance"] == len(corpus_files)
        assert {row for rows in after.values() for row in rows if "first" in row} == set()
    finally:
        warehouse.dispose()
