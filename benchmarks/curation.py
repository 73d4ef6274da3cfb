"""Benchmark: curation (flatten + bulk insert) against the bare ``pydicom.dcmread`` of the same files.

Header-only CT and mammography instances from the corpus generator (curation does not care whether
files went through de-identification; their headers have the same shape) are curated into a SQLite
file and into a PostgreSQL schema; the baseline is ``pydicom.dcmread`` of every file alone, in the same
run. Rates are CPU-time rates of this process, best of ``--rounds`` interleaved rounds, because the
machines this runs on are shared and wall-clock rates swing by a factor of two with the neighbours'
load. Peak memory is the peak resident set of a child process that curates a partition of the small
and of the large size: the target is a flat peak (a ratio near 1 for 20 times the instances).

Usage: ``python benchmarks/curation.py [--small 1000] [--large 20000] [--rounds 3] [--postgres-url URL]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import pydicom  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from resources.corpus import CorpusSpec, generate_corpus  # noqa: E402
from resources.curation import PartitionCurator  # noqa: E402
from resources.warehouse import Lineage, Warehouse  # noqa: E402
from resources.warehouse.tables import CURATION_TABLES  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
PARTITION = "2026-11-09"


def make_files(folder: Path, target: int) -> list[Path]:
    """About ``target`` header-only instances: CT series of 100 images, dose SRs and mammograms."""
    files: list[Path] = []
    seed = 5
    while len(files) < target:
        generate_corpus(
            folder / f"seed{seed}",
            CorpusSpec(
                seed=seed, n_studies=max(4, target // 300), header_only=True, ct_images_per_series=100
            ),
        )
        files = sorted(folder.rglob("*.dcm"))
        seed += 1
    return files[:target]


def bare_read(files: list[Path]) -> None:
    for path in files:
        pydicom.dcmread(path)


def curate(warehouse: Warehouse, files: list[Path]) -> None:
    with warehouse.writing_partition(Lineage(PARTITION, "bench"), CURATION_TABLES) as writer:
        PartitionCurator().curate(files, writer)


def cpu_rate(action: Callable[[], None], n: int) -> float:
    began = time.process_time()
    action()
    return n / (time.process_time() - began)


def peak_rss_mb(list_file: Path, database: Path) -> float:
    """Peak resident memory of a child process that curates the files listed in ``list_file``."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(list_file), str(database)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def child(list_file: Path, database: Path) -> int:
    files = [Path(line) for line in list_file.read_text().splitlines() if line]
    warehouse = Warehouse(f"sqlite:///{database}")
    warehouse.upgrade()
    curate(warehouse, files)
    warehouse.dispose()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return 0


def postgres_warehouse(url: str) -> tuple[Warehouse, sa.Engine, str] | None:
    admin = sa.create_engine(url)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        return None
    warehouse = Warehouse(url, schema=schema)
    warehouse.upgrade()
    return warehouse, admin, schema


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child(Path(sys.argv[2]), Path(sys.argv[3]))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DICOM_LAKE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="curation-bench-"))
    try:
        print(f"generating {args.large} header-only instances ...", flush=True)
        files = make_files(work / "corpus", args.large)
        n = len(files)
        bare_read(files)  # warm the page cache so every measurement reads from memory

        sqlite = Warehouse(f"sqlite:///{work / 'warehouse.sqlite'}")
        sqlite.upgrade()
        pg = postgres_warehouse(args.postgres_url)
        read_rates, sqlite_rates, pg_rates = [], [], []
        for _ in range(args.rounds):
            read_rates.append(cpu_rate(lambda: bare_read(files), n))
            sqlite_rates.append(cpu_rate(lambda: curate(sqlite, files), n))
            if pg is not None:
                # Only this process's CPU: the server's work runs elsewhere, so wall time is shown too.
                began = time.perf_counter()
                pg_rates.append(cpu_rate(lambda: curate(pg[0], files), n))
                pg_wall = n / (time.perf_counter() - began)
        read_rate, sqlite_rate = max(read_rates), max(sqlite_rates)
        print(f"instances: {n}, best of {args.rounds} rounds, CPU-time rates")
        print(f"baseline pydicom.dcmread alone:   {read_rate:8.0f} instances/s")
        print(
            f"curation into SQLite:             {sqlite_rate:8.0f} instances/s"
            f"  ratio {sqlite_rate / read_rate:.2f}  (target >= 0.5)"
        )
        if pg is None:
            print(f"curation into PostgreSQL:         skipped (no server at {args.postgres_url})")
        else:
            warehouse, admin, schema = pg
            pg_rate = max(pg_rates)
            print(
                f"curation into PostgreSQL:         {pg_rate:8.0f} instances/s"
                f"  ratio {pg_rate / read_rate:.2f}  (last round wall clock {pg_wall:.0f} instances/s)"
            )
            warehouse.dispose()
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        sqlite.dispose()

        peaks = []
        for size in (args.small, n):
            listing = work / f"files-{size}.txt"
            listing.write_text("\n".join(str(p) for p in files[:size]))
            peaks.append(peak_rss_mb(listing, work / f"memory-{size}.sqlite"))
        print(f"peak resident memory, {args.small:6d} instances: {peaks[0]:7.1f} MB")
        print(f"peak resident memory, {n:6d} instances: {peaks[1]:7.1f} MB  (x{peaks[1] / peaks[0]:.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
