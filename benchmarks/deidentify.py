"""Benchmark: de-identify a generated corpus, files in -> files out, against two baselines in the same run.

Ours (PS3.15 2026c + options + free-text PHI scanning + leak verification) vs ``dicognito`` and
``dicom-anonymizer`` (KitwareMedical), each reading and writing the same files. Prints instances/s and
the ratios, and the peak RSS growth per half of the corpus (memory must stay flat). The tools take
turns on chunks of the corpus (rotating order) and are rated on CPU time: the machine is shared.

    .venv/bin/python benchmarks/deidentify.py [--studies N] [--images-per-series K] [--rounds R]

The corpus is the project's generator (header-only CT/MG/SR mix with repeated descriptions and planted
PHI), at least 5,000 instances by default, split into ``--rounds`` consecutive rounds: each round's
ratio is printed, then their median and range (the target holds only if every round meets it). Then
the scanner's cost per distinct string, the share of strings presidio had to scan and the cache's hit
rate; the name recognizers' recall on the names planted in free text and the clinical words they lose
(``resources.deid.name_recall``, on a smaller corpus read whole); and the time per irradiation event
of fluoroscopy dose SRs of 100 to 2,000 events (it must stay flat: linear in content items).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
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
from resources.deid.name_recall import descriptions_of, measure_names, planted_names
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import PhiScanner
from tests.dicom_builder import (
    content_item,
    dose_sr,
    sr_code,
    sr_container,
    sr_num,
    sr_text,
    sr_uidref,
    with_file_meta,
    write_file,
)


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


def _fluoro_sr(events: int) -> pydicom.Dataset:
    """An X-ray radiation dose SR (TID 10001/10003 shape) with ``events`` irradiation events.

    Each event carries what vendor fluoroscopy SRs carry: plane, start time, event UID, protocol and
    comment TEXT items (one distinct per event), and a dozen NUM items; observer context TEXT items
    (location, serial number) sit at the top.
    """
    dcm = "DCM"
    tree = [
        sr_text(("113876", dcm, "Device Role in Procedure"), "Irradiating Device", "HAS OBS CONTEXT"),
        sr_text(
            ("121012", dcm, "Device Observer Physical Location During Observation"),
            "FLUORO ROOM 2",
            "HAS OBS CONTEXT",
        ),
        sr_text(("121014", dcm, "Device Observer Serial Number"), "SN-88231", "HAS OBS CONTEXT"),
    ]
    for number in range(events):
        tree.append(
            sr_container(
                ("113706", dcm, "Irradiation Event X-Ray Data"),
                [
                    sr_code(("113764", dcm, "Acquisition Plane"), ("113622", dcm, "Single Plane")),
                    content_item(
                        "DATETIME",
                        ("111526", dcm, "DateTime Started"),
                        DateTime=f"20261109{number % 24:02d}1000",
                    ),
                    sr_uidref(
                        ("113769", dcm, "Irradiation Event UID"), f"1.2.826.0.1.3680043.10.77.{number + 1}"
                    ),
                    sr_text(("125203", dcm, "Acquisition Protocol"), "Abdomen 7.5 fps"),
                    sr_text(("121106", dcm, "Comment"), f"run {number + 1} left oblique"),
                    *(
                        sr_num((code, dcm, meaning), f"{(number % 97) * 0.37 + k:.2f}", unit)
                        for k, (code, meaning, unit) in enumerate(
                            [
                                ("122130", "Dose Area Product", "Gy.m2"),
                                ("111636", "Entrance Exposure at RP", "mGy"),
                                ("113793", "Pulse Rate", "{pulse}/s"),
                                ("113768", "Number of Pulses", "1"),
                                ("113733", "KVP", "kV"),
                                ("113734", "X-Ray Tube Current", "mA"),
                                ("113735", "Exposure Time", "ms"),
                                ("113736", "Exposure", "uA.s"),
                                ("113742", "Irradiation Duration", "s"),
                                ("113757", "X-Ray Filter Thickness Maximum", "mm"),
                                ("112011", "Positioner Primary Angle", "deg"),
                                ("112012", "Positioner Secondary Angle", "deg"),
                            ]
                        )
                    ),
                ],
            )
        )
    ds = dose_sr(
        PatientName="OKAFOR^ADAEZE",
        PatientID="MRN5550123",
        PatientBirthDate="19610203",
        StudyDate="20261109",
        SpecificCharacterSet="ISO_IR 100",
        ValueType="CONTAINER",
        ConceptNameCodeSequence=sr_container(
            ("113701", dcm, "X-Ray Radiation Dose Report"), []
        ).ConceptNameCodeSequence,
        ContinuityOfContent="SEPARATE",
        ContentSequence=tree,
    )
    return with_file_meta(ds)


def _sr_scaling(engine: Deidentifier, work: Path, sizes: list[int], repeats: int) -> None:
    """Per-event CPU time of de-identifying one SR file of each size (best of ``repeats``)."""
    folder = work / "sr"
    folder.mkdir()
    print("fluoroscopy dose SR scaling (CPU time of read + de-identify + encode + leak check):")
    per_event = []
    for events in sizes:
        path = write_file(_fluoro_sr(events), folder / f"sr_{events}.dcm")
        best = float("inf")
        for _ in range(repeats):
            cpu = time.process_time()
            result = engine.deidentify_file(path)
            best = min(best, time.process_time() - cpu)
        per_event.append(best / events)
        print(
            f"  {events:>5} events  {path.stat().st_size / 1e6:5.2f} MB  {best:6.3f} s  "
            f"{best / events * 1e3:6.3f} ms/event  ({result.outcome})"
        )
    print(f"  per-event time, largest / smallest SR: {per_event[-1] / per_event[0]:4.2f} (1.0 = linear)")


def _names(work: Path, studies: int) -> None:
    """The name recognizers' recall on planted names and the clinical words lost, on a corpus read whole."""
    spec = CorpusSpec(seed=11, n_studies=studies, ct_images_per_series=1, header_only=True)
    manifest = generate_corpus(work / "names", spec)
    datasets = [pydicom.dcmread(path) for path in sorted((work / "names").rglob("*.dcm"))]
    descriptions = list(descriptions_of(datasets))
    identifier_words = {
        word
        for entry in manifest.planted_phi
        for text in entry["identifiers"]
        for word in re.findall(r"[A-Za-z']+", text)
    }
    for label, scanner in (("names on ", PhiScanner()), ("names off", PhiScanner(find_names=False))):
        measure = measure_names(scanner, planted_names(manifest.planted_phi), descriptions, identifier_words)
        print(
            f"{label}: recall on planted names {measure.recall:6.1%} ({measure.caught}/{measure.planted}); "
            f"clinical words lost {measure.clinical_loss:6.2%} "
            f"({measure.clinical_lost}/{measure.clinical_words}); "
            f"other words lost {measure.other_loss:6.2%} ({measure.other_lost}/{measure.other_words}) "
            f"over {len(set(descriptions))} distinct descriptions"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=750)
    parser.add_argument("--images-per-series", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=250, help="files per interleaved turn")
    parser.add_argument("--rounds", type=int, default=5, help="consecutive rounds the corpus is split into")
    parser.add_argument("--name-studies", type=int, default=120, help="studies of the name-recall corpus")
    parser.add_argument("--sr-events", default="100,250,500,1000,2000", help="event counts of the SR scaling")
    parser.add_argument("--no-names", action="store_true", help="scan without the name recognizers")
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

        scanner = PhiScanner(find_names=not args.no_names)
        engine = Deidentifier(
            DeidOptions(),
            os.environ.get("DICOM_LAKE_SECRET_KEY", "benchmark-secret-key-0123456789").encode(),
            scanner=scanner,
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
        label = "dicom-lake (+scan)" if not args.no_names else "dicom-lake (-names)"
        totals = [
            _Tally(label, ours, work / "ours"),
            _Tally("dicognito", with_dicognito, work / "dicognito"),
            _Tally("dicom-anonymizer", with_dicom_anonymizer, work / "kitware"),
        ]
        load_before = os.getloadavg()
        size = -(-len(files) // args.rounds)
        ratios: list[float] = []
        for number, start in enumerate(range(0, len(files), size), 1):
            tools = [_Tally(t.name, t.one, t.out) for t in totals]
            _run_interleaved(tools, files[start : start + size], args.chunk)
            ours_rate, dicognito_rate, kitware_rate = (tool.rate for tool in tools)
            ratios.append(ours_rate / max(dicognito_rate, kitware_rate))
            print(
                f"round {number}: {tools[0].files} files  ours {ours_rate:6.1f}  "
                f"dicognito {dicognito_rate:6.1f}  dicom-anonymizer {kitware_rate:6.1f} instances/cpu-s  "
                f"ratio vs the faster {ratios[-1]:4.2f}x"
            )
            for total, tool in zip(totals, tools, strict=True):
                total.files += tool.files
                total.wall += tool.wall
                total.cpu += tool.cpu
                total.rss_growth += tool.rss_growth
        load_after = os.getloadavg()
        print(
            "load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f} "
            "(2 cores shared; rates are per CPU-second)".format(*load_before, *load_after)
        )
        for tool in totals:
            _report(tool)
        rate_ours, rate_dicognito, rate_kitware = (tool.rate for tool in totals)
        print(f"ratio vs dicognito:        {rate_ours / rate_dicognito:5.2f}x")
        print(f"ratio vs dicom-anonymizer: {rate_ours / rate_kitware:5.2f}x")
        print(
            f"ratio vs the faster one per round: median {statistics.median(ratios):4.2f}x, "
            f"range {min(ratios):4.2f}-{max(ratios):4.2f}x over {len(ratios)} rounds "
            "(target >= 1.5x in every round)"
        )
        stats, cache = scanner.stats, scanner.generic.cache_info()
        lookups = cache.hits + cache.misses
        print(
            f"scanner: {stats.distinct_strings} distinct strings, "
            f"{stats.seconds_per_string * 1e3:.3f} ms each "
            f"({stats.seconds:.2f} s in all); presidio scanned {stats.presidio_share:.1%} of them; "
            f"cache hit rate {cache.hits / lookups if lookups else 0.0:.1%} of {lookups} look-ups"
        )
        _names(work, args.name_studies)
        _sr_scaling(engine, work, [int(n) for n in args.sr_events.split(",")], repeats=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
