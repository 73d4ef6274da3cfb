"""The warehouse on SQLite and on the real PostgreSQL server: migrations, partition replacement."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from resources.warehouse import Lineage, Warehouse
from resources.warehouse.store import _import_all_tables
from resources.warehouse.tables import CURATION_TABLES, Instance, Study
from tests.warehouse.backends import BACKENDS

pytestmark = pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)


def _instances(partition: str, n: int, *, fail_at: int | None = None) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if fail_at is not None and i == fail_at:
            raise RuntimeError("injected failure mid-batch")
        yield {
            "sop_instance_uid": f"2.25.{partition.replace('-', '')}{i:06d}",
            "series_instance_uid": f"2.25.9{i % 3}",
            "study_instance_uid": "2.25.1",
            "modality": "CT",
            "instance_number": i,
        }


def _rows(warehouse: Warehouse, partition: str) -> list[tuple[Any, ...]]:
    frame = warehouse.read_frame(
        "SELECT sop_instance_uid, series_instance_uid, modality, instance_number, run_id FROM instance "
        "WHERE partition_key = :pk ORDER BY sop_instance_uid",
        {"pk": partition},
    )
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_fresh_upgrade_matches_the_models_with_no_differences(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    _import_all_tables()
    with make_warehouse.engine.connect() as con:
        diff = compare_metadata(
            MigrationContext.configure(con, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []
    assert {t.__tablename__ for t in CURATION_TABLES} <= set(make_warehouse.table_names())  # type: ignore[attr-defined]


def test_upgrade_from_previous_revision_keeps_rows_and_ends_like_fresh(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade("0001")
    assert make_warehouse.current_revision() == "0001"
    make_warehouse.replace_partition(Lineage("2026-11-10", "run-a"), {Instance: _instances("2026-11-10", 5)})
    make_warehouse.upgrade()
    assert make_warehouse.current_revision() != "0001"
    assert len(_rows(make_warehouse, "2026-11-10")) == 5
    _import_all_tables()
    with make_warehouse.engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con), SQLModel.metadata) == []


def test_downgrade_to_empty_and_back(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.downgrade("base")
    assert [t for t in make_warehouse.table_names() if t != "alembic_version"] == []
    make_warehouse.upgrade()
    assert "study" in make_warehouse.table_names()


def test_rerun_of_a_partition_gives_identical_rows_and_no_duplicates(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.replace_partition(Lineage("2026-11-10", "run"), {Instance: _instances("2026-11-10", 2500)})
    first = _rows(make_warehouse, "2026-11-10")
    make_warehouse.replace_partition(Lineage("2026-11-10", "run"), {Instance: _instances("2026-11-10", 2500)})
    assert _rows(make_warehouse, "2026-11-10") == first
    assert len(first) == 2500


def test_failure_mid_batch_leaves_previous_rows_intact(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.replace_partition(Lineage("2026-11-10", "good"), {Instance: _instances("2026-11-10", 300)})
    make_warehouse.replace_partition(Lineage("2026-11-11", "good"), {Instance: _instances("2026-11-11", 10)})
    before = _rows(make_warehouse, "2026-11-10")
    with (
        pytest.raises(RuntimeError, match="injected"),
        make_warehouse.writing_partition(Lineage("2026-11-10", "bad"), [Instance, Study], batch_size=50) as w,
    ):
        w.add_all(Instance, _instances("2026-11-10", 300, fail_at=175))  # after three flushed batches
    assert _rows(make_warehouse, "2026-11-10") == before
    assert {row[-1] for row in before} == {"good"}
    assert len(_rows(make_warehouse, "2026-11-11")) == 10


def test_replacing_one_partition_leaves_the_others(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.replace_partition(Lineage("2026-11-10", "a"), {Instance: _instances("2026-11-10", 4)})
    make_warehouse.replace_partition(Lineage("2026-11-11", "a"), {Instance: _instances("2026-11-11", 6)})
    make_warehouse.replace_partition(Lineage("2026-11-10", "b"), {Instance: _instances("2026-11-10", 2)})
    assert len(_rows(make_warehouse, "2026-11-10")) == 2
    assert len(_rows(make_warehouse, "2026-11-11")) == 6


def test_row_counts_cover_every_table_but_the_migrations_own(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.replace_partition(Lineage("2026-11-10", "a"), {Instance: _instances("2026-11-10", 4)})
    make_warehouse.replace_partition(Lineage("2026-11-11", "a"), {Instance: _instances("2026-11-11", 6)})
    counts = make_warehouse.row_counts()
    assert counts["instance"] == 10
    assert counts["study"] == 0
    assert set(counts) == {name for name in make_warehouse.table_names() if not name.startswith("alembic")}


def test_upgrade_adopts_dose_tables_created_straight_from_the_models(make_warehouse: Warehouse) -> None:
    import resources.warehouse.dose_tables as dose_tables

    dose = [SQLModel.metadata.tables[m.__tablename__] for m in dose_tables.ALL_TABLES]
    SQLModel.metadata.create_all(make_warehouse.engine, tables=dose)
    make_warehouse.upgrade()
    _import_all_tables()
    with make_warehouse.engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con), SQLModel.metadata) == []


def test_runs_that_upgrade_at_the_same_time_all_succeed(make_warehouse: Warehouse) -> None:
    # Separate processes, like Dagster's run workers (Alembic's context is process-global).
    code = (
        "import sys; from resources.warehouse import Warehouse; "
        "Warehouse(sys.argv[1], schema=sys.argv[2] or None).upgrade()"
    )
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, make_warehouse.url, make_warehouse.schema or ""],
            cwd=root,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    failures = [p.communicate(timeout=120)[1][-300:] for p in procs if p.wait(timeout=120) != 0]
    assert failures == []
    assert make_warehouse.current_revision() is not None
    assert "study" in make_warehouse.table_names()


def test_profile_version_is_stored_whole_after_upgrading_from_0002(make_warehouse: Warehouse) -> None:
    # Every option and site choice named: the 64-character column of 0002 kept only the first three.
    version = "ps315-2026c:" + ",".join(
        [
            "clean_structured_content",
            "clean_descriptors",
            "retain_modified_dates",
            "retain_patient_characteristics",
            "retain_device_identity",
            "retain_safe_private",
            "retain_institution_identity",
            "retain_ethnic_group",
        ]
    )
    assert len(version) > 64
    make_warehouse.upgrade("0002")
    make_warehouse.replace_partition(Lineage("2026-11-10", "before"), {Instance: _instances("2026-11-10", 3)})
    make_warehouse.upgrade()
    assert make_warehouse.current_revision() == make_warehouse.head_revision()
    assert len(_rows(make_warehouse, "2026-11-10")) == 3
    lineage = Lineage("2026-11-11", "after", deid_profile_version=version)
    make_warehouse.replace_partition(lineage, {Instance: _instances("2026-11-11", 2)})
    frame = make_warehouse.read_frame(
        "SELECT DISTINCT deid_profile_version FROM instance WHERE partition_key = :pk", {"pk": "2026-11-11"}
    )
    assert list(frame.deid_profile_version) == [version]
    make_warehouse.downgrade("0002")
    frame = make_warehouse.read_frame(
        "SELECT DISTINCT deid_profile_version FROM instance WHERE partition_key = :pk", {"pk": "2026-11-11"}
    )
    assert {len(value) for value in frame.deid_profile_version} <= {64, len(version)}
