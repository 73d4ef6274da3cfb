"""Benchmark: CT dose SRs read per second by the dose reader, against ``pydicom.dcmread`` alone.

The corpus: at least 2,000 CT radiation dose SRs from the project's generator (``resources.corpus``:
Siemens/GE/Philips/Canon-style reports, cumulative Siemens series included), written once into
``.cache/benchmarks/``. Baseline: ``pydicom.dcmread`` of the same files in the same run (the floor of
any pydicom-based reader; it parses no sequence content). Both are timed in alternating rounds and the
best round of each is kept, so that load from other processes on a shared machine hurts both alike.

The projection X-ray reader (TID 10001) is timed after, on the openrem wheel's projection reports and
on generated large fluoroscopy reports (:mod:`benchmarks.projection_dose`); ``--ct-only`` skips it.

Usage: ``python -m benchmarks.dose [--reports 2000] [--rounds 5] [--ct-only]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import pydicom

from resources.dose.rdsr.ct_radiation_dose import read_ct_radiation_dose

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".cache" / "benchmarks"


def build_corpus(n_reports: int, seed: int) -> list[Path]:
    """Write (once) at least ``n_reports`` generated CT dose SRs; return their paths."""
    from resources.corpus import CorpusSpec, iter_corpus

    folder = CACHE / f"dose_srs_seed{seed}_n{n_reports}"
    done = folder / ".complete"
    if done.exists():
        return sorted(folder.glob("*.dcm"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Every study gets a dose SR; images are one header-only instance per series (they are skipped).
    spec = CorpusSpec(
        seed=seed,
        n_studies=int(n_reports * 0.95) + 10,
        header_only=True,
        plant_phi=False,
        ct_images_per_series=1,
        mg_fraction=0.0,
        rdsr_fraction=1.0,
    )
    written = 0
    for item in iter_corpus(spec):
        if item.series_kind != "rdsr":
            continue
        item.dataset.save_as(folder / f"{written:05d}.dcm", enforce_file_format=True)
        written += 1
        if written >= n_reports:
            break
    done.touch()
    return sorted(folder.glob("*.dcm"))


def time_round(files: list[Path], reader: str) -> float:
    start = time.perf_counter()
    if reader == "baseline":
        for path in files:
            pydicom.dcmread(path)
    else:
        for path in files:
            read_ct_radiation_dose(path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--ct-only", action="store_true", help="skip the projection X-ray reader part")
    args = parser.parse_args(argv)
    files = build_corpus(args.reports, args.seed)
    sizes = [p.stat().st_size for p in files]
    events = [len(read_ct_radiation_dose(p).events) for p in files]  # also warms the file cache
    print(
        f"corpus: {len(files)} CT dose SRs, median {statistics.median(sizes) / 1024:.1f} KiB, "
        f"{min(events)}-{max(events)} events per report (median {statistics.median(events):.0f})"
    )
    best = {"baseline": float("inf"), "reader": float("inf")}
    for _ in range(args.rounds):
        for reader in best:
            best[reader] = min(best[reader], time_round(files, reader))
    baseline_rate = len(files) / best["baseline"]
    reader_rate = len(files) / best["reader"]
    print(f"baseline pydicom.dcmread:        {baseline_rate:8.0f} files/s")
    print(f"dose reader (TID 10011, full):   {reader_rate:8.0f} files/s")
    print(f"ratio reader time / dcmread time: {best['reader'] / best['baseline']:.2f}x (target: within 2x)")
    if not args.ct_only:
        from benchmarks import projection_dose

        print("\n--- projection X-ray dose reader (TID 10001) ---")
        return projection_dose.main(["--rounds", str(args.rounds)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
