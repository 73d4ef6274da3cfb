"""Benchmark: de-identify a generated corpus, files in -> files out, against two baselines in the same run.

Ours (PS3.15 2026c + options + free-text PHI scanning + leak verification) vs ``dicognito`` and
``dicom-anonymizer`` (KitwareMedical), each reading and writing the same files. Prints instances/s and
the ratios, and the peak RSS growth per half of the corpus (memory must stay flat). The tools take
turns on chunks of the corpus (rotating order) and are rated on CPU time: the machine is shared.

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
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resources.corpus.generator import generate_corpus
from resources.corpus.spec import CorpusSpec
from resources.deid.engine import Deidentifier
from resources.deid.options import DeidOptions


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class _Tally:
    name: str
    one: Callable[[Path, Path], None]
    out: Path
    files: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    rss_growth: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.files / self.cpu


def _run_interleaved(tools: list[_Tally], files: list[Path], chunk: int) -> None:
    """Each chunk of files goes through every tool, in an order that rotates per chunk.

    Interleaving gives every tool the same share of warm and cold file cache and of the machine's
    background load; CPU time (not wall time) gives the rate, since the machine is shared.
    """
    for tool in tools:
        tool.out.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(files), chunk)):
        part = files[start : start + chunk]
        order = tools[number % len(tools) :] + tools[: number % len(tools)]
        for tool in order:
            rss_before = _peak_rss_mb()
            wall, cpu = time.perf_counter(), time.process_time()
            for index, path in enumerate(part, start):
                tool.one(path, tool.out / f"{index:06d}.dcm")
            tool.wall += time.perf_counter() - wall
            tool.cpu += time.process_time() - cpu
            tool.files += len(part)
            tool.rss_growth.append(_peak_rss_mb() - rss_before)


def _report(tool: _Tally) -> None:
    half = len(tool.rss_growth) // 2
    first, second = sum(tool.rss_growth[:half]), sum(tool.rss_growth[half:])
    print(
        f"{tool.name:<18} {tool.files:>6} files  wall {tool.wall:7.2f} s  cpu {tool.cpu:7.2f} s  "
        f"{tool.rate:8.1f} instances/cpu-s  peak RSS growth: first half {first:6.1f} MB, "
        f"second half {second:6.1f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=750)
    parser.add_argument("--images-per-series", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=250, help="files per interleaved round")
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
        ours_tally = _Tally("dicom-lake (+scan)", ours, work / "ours")
        dicognito_tally = _Tally("dicognito", with_dicognito, work / "dicognito")
        kitware_tally = _Tally("dicom-anonymizer", with_dicom_anonymizer, work / "kitware")
        tools = [ours_tally, dicognito_tally, kitware_tally]
        load_before = os.getloadavg()
        _run_interleaved(tools, files, args.chunk)
        load_after = os.getloadavg()
        print(
            "load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f} "
            "(2 cores shared; rates are per CPU-second)".format(*load_before, *load_after)
        )
        for tool in tools:
            _report(tool)
        rate_ours, rate_dicognito, rate_kitware = (tool.rate for tool in tools)
        faster = max(rate_dicognito, rate_kitware)
        print(f"ratio vs dicognito:        {rate_ours / rate_dicognito:5.2f}x")
        print(f"ratio vs dicom-anonymizer: {rate_ours / rate_kitware:5.2f}x")
        print(f"ratio vs the faster one:   {rate_ours / faster:5.2f}x (target >= 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
