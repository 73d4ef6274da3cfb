"""Benchmark: de-identify a generated corpus, files in -> files out, against two baselines in the same run.

Ours (PS3.15 2026c + options + free-text PHI scanning + leak verification) vs ``dicognito`` and
``dicom-anonymizer`` (KitwareMedical), each reading and writing the same files. Prints instances/s and
the ratios, and the peak RSS growth per half of the corpus (memory must stay flat).

    .venv/bin/python benchmarks/deidentify.py [--studies N] [--images-per-series K]

The corpus is the project's generator (header-only CT/MG/SR mix with repeated descriptions and planted
PHI), at least 5,000 instances by default.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resources.corpus.generator import generate_corpus
from resources.corpus.spec import CorpusSpec
from resources.deid.engine import Deidentifier
from resources.deid.options import DeidOptions


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(name: str, files: list[Path], out: Path, one: Callable[[Path, Path], None]) -> float:
    out.mkdir(parents=True, exist_ok=True)
    half = len(files) // 2
    started = time.perf_counter()
    cpu_started = time.process_time()
    rss_start = _peak_rss_mb()
    rss_half = rss_start
    for index, path in enumerate(files):
        one(path, out / f"{index:06d}.dcm")
        if index == half:
            rss_half = _peak_rss_mb()
    seconds = time.perf_counter() - started
    # CPU time, not wall time, gives the rate: the machine is shared, and other processes' load would
    # otherwise decide the ratio. Wall time is printed too.
    cpu_seconds = time.process_time() - cpu_started
    rate = len(files) / cpu_seconds
    rss_end = _peak_rss_mb()
    print(
        f"{name:<18} {len(files):>6} files  wall {seconds:7.2f} s  cpu {cpu_seconds:7.2f} s  "
        f"{rate:8.1f} instances/cpu-s  "
        f"peak RSS growth: first half {rss_half - rss_start:6.1f} MB, "
        f"second half {rss_end - rss_half:6.1f} MB"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=750)
    parser.add_argument("--images-per-series", type=int, default=6)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="deid-bench-"))
    try:
        spec = CorpusSpec(
            seed=11, n_studies=args.studies, ct_images_per_series=args.images_per_series, header_only=True
        )
        manifest = generate_corpus(work / "src", spec)
        files = sorted(p for p in (work / "src").rglob("*.dcm"))
        print(
            f"corpus: {len(files)} header-only instances ({manifest.n_files} in manifest), "
            f"{args.studies} studies"
        )

        engine = Deidentifier(
            DeidOptions(), os.environ.get("DICOM_LAKE_SECRET_KEY", "benchmark-secret-key-0123456789").encode()
        )

        def ours(src: Path, dst: Path) -> None:
            result = engine.deidentify_file(src)
            if result.encoded is not None:
                dst.write_bytes(result.encoded)

        from dicognito.anonymizer import Anonymizer

        dicognito_anonymizer = Anonymizer()

        def with_dicognito(src: Path, dst: Path) -> None:
            ds = pydicom.dcmread(src)
            dicognito_anonymizer.anonymize(ds)
            ds.save_as(dst)

        from dicomanonymizer import anonymize_dataset

        def with_dicom_anonymizer(src: Path, dst: Path) -> None:
            ds = pydicom.dcmread(src)
            anonymize_dataset(ds, delete_private_tags=True)
            ds.save_as(dst)

        engine.deidentify_file(files[0])  # build the scanner's lazy parts outside the timing
        rate_ours = _run("dicom-lake (+scan)", files, work / "ours", ours)
        rate_dicognito = _run("dicognito", files, work / "dicognito", with_dicognito)
        rate_kitware = _run("dicom-anonymizer", files, work / "kitware", with_dicom_anonymizer)
        faster = max(rate_dicognito, rate_kitware)
        print(f"ratio vs dicognito:        {rate_ours / rate_dicognito:5.2f}x")
        print(f"ratio vs dicom-anonymizer: {rate_ours / rate_kitware:5.2f}x")
        print(f"ratio vs the faster one:   {rate_ours / faster:5.2f}x (target >= 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
