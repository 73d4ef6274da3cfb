"""Benchmark: curation (flatten + bulk insert) against the bare ``pydicom.dcmread`` of the same files.

Header-only CT and mammography instances from the corpus generator (curation does not care whether
files went through de-identification; their headers have the same shape) are curated into a SQLite
file and into a PostgreSQL schema; the baseline is ``pydicom.dcmread`` of every file alone, in the same
run. Prints instances per second, the ratios, and the peak Python memory (tracemalloc) of curating a
small and a large partition: the target is a ratio of at least 0.5 on SQLite and a flat peak.

Usage: ``python benchmarks/curation.py [--small 1000] [--large 20000] [--postgres-url URL]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pydicom
import sqlalchemy as sa

from resources.corpus import CorpusSpec, generate_corpus
from resources.curation import PartitionCurator
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.tables import CURATION_TABLES

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def make_files(folder: Path, target: int) -> list[Path]:
    """About ``target`` header-only instances: CT series of 100 images plus mammography studies."""
    per_series = 100
    studies = max(4, target // 300)
    generate_corpus(
        folder,
        CorpusSpec(seed=5, n_studies=studies, header_only=True, ct_images_per_series=per_series, days=1),
    )
    files = sorted(folder.rglob("*.dcm"))
    while len(files) < target:  # top up with another seed when the plan fell short
        extra = folder / f"extra{len(files)}"
        generate_corpus(
            extra,
            CorpusSpec(
                seed=len(files), n_studies=studies, header_only=True, ct_images_per_series=per_series, days=1
            ),
        )
        files = sorted(folder.rglob("*.dcm"))
    return files[:target]


def bare_read(files: list[Path]) -> float:
    began = time.perf_counter()
    for path in files:
        pydicom.dcmread(path)
    return len(files) / (time.perf_counter() - began)


def curate(warehouse: Warehouse, files: list[Path], partition: str = "2026-11-09") -> float:
    began = time.perf_counter()
    with warehouse.writing_partition(Lineage(partition, "bench"), CURATION_TABLES) as writer:
        PartitionCurator().curate(files, writer)
    return len(files) / (time.perf_counter() - began)


def peak_memory_mb(warehouse: Warehouse, files: list[Path]) -> float:
    tracemalloc.start()
    try:
        with warehouse.writing_partition(Lineage("2026-11-09", "bench-mem"), CURATION_TABLES) as writer:
            PartitionCurator().curate(files, writer)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def postgres_warehouse(url: str) -> tuple[Warehouse, sa.Engine, str] | None:
    admin = sa.create_engine(url)
    try:
        with admin.begin() as con:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        return None
    warehouse = Warehouse(url, schema=schema)
    warehouse.upgrade()
    return warehouse, admin, schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DICOM_LAKE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="curation-bench-"))
    try:
        print(f"generating {args.large} header-only instances ...", flush=True)
        files = make_files(work / "corpus", args.large)
        small = files[: args.small]
        bare_read(files)  # warm the page cache so both sides read from memory

        sqlite = Warehouse(f"sqlite:///{work / 'warehouse.sqlite'}")
        sqlite.upgrade()
        read_rate = bare_read(files)
        sqlite_rate = curate(sqlite, files)
        print(f"files: {len(files)} ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
        print(f"baseline pydicom.dcmread alone:   {read_rate:9.0f} instances/s")
        print(
            f"curation into SQLite:             {sqlite_rate:9.0f} instances/s"
            f"  ratio {sqlite_rate / read_rate:.2f}  (target >= 0.5)"
        )

        pg = postgres_warehouse(args.postgres_url)
        if pg is None:
            print(f"curation into PostgreSQL:         skipped (no server at {args.postgres_url})")
        else:
            warehouse, admin, schema = pg
            try:
                pg_rate = curate(warehouse, files)
                print(
                    f"curation into PostgreSQL:         {pg_rate:9.0f} instances/s"
                    f"  ratio {pg_rate / read_rate:.2f}"
                )
            finally:
                warehouse.dispose()
                with admin.begin() as con:
                    con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()

        small_peak = peak_memory_mb(sqlite, small)
        large_peak = peak_memory_mb(sqlite, files)
        print(f"peak Python memory, {len(small):6d} instances: {small_peak:7.1f} MB")
        print(
            f"peak Python memory, {len(files):6d} instances: {large_peak:7.1f} MB"
            f"  (x{large_peak / small_peak:.2f} for x{len(files) / len(small):.0f} the instances)"
        )
        sqlite.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
