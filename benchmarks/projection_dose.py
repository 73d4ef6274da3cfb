"""Benchmark: the projection X-ray dose reader (TID 10001) against ``pydicom.dcmread`` alone.

Two corpora:

* every projection dose SR of the openrem 1.0.0b3 wheel (RF, DX, MG; fetched once into ``.cache/openrem``
  as the tests do);
* generated large fluoroscopy reports: the real Siemens Zee report with its irradiation events repeated
  (new UIDs, varied doses) to several hundred events, written twice: with sequences of undefined length
  (as the large vendor files of the wheel are written: dcmread then parses every item, seconds for a few
  MB) and of defined length (dcmread leaves sequences unparsed: its time is then the file read alone).

Baseline and reader are timed in alternating rounds; per corpus the median and range over the rounds
are printed, and the ratio of the medians. A second baseline, dcmread followed by touching every
element (what a pydicom-based reader must at least do), puts the ratio in context.

Memory, per generated report (both encodings): the tracemalloc peak of one read by dcmread, by the
whole-file reader (the file and its content tree in memory at once, as the reader worked before it
streamed), by the streaming reader returning the whole report, and by the stream handing out events one
at a time (:class:`ProjectionDoseStream`, the events dropped as they come). For the whole report the
size of the result itself (what is still allocated after the read) is printed too: the reader's peak
less its result is the working memory, which should not grow with the report.

Usage: ``python -m benchmarks.projection_dose [--rounds 5] [--events 100 500 2000]``
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from resources.dose.rdsr.projection_file import read_lean_file
from resources.dose.rdsr.projection_radiation_dose import (
    ProjectionDoseStream,
    read_dataset,
    read_projection_radiation_dose,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".cache"
OPENREM_FILES = CACHE / "openrem" / "test_files"
PATTERNS = (
    "RF-RDSR-*.dcm",
    "DX-RDSR-*.dcm",
    "MG-RDSR-*.dcm",
    "Dual-RDSR-*.dcm",
    "RF-No-*.dcm",
    "RF-Pat-*.dcm",
)
TARGET = 1.5


def openrem_files() -> list[Path]:
    """The wheel's projection dose SRs, extracted once (the same place and way as the test fixture)."""
    if not OPENREM_FILES.is_dir():
        wheel_dir = CACHE / "openrem" / "wheel"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        if not list(wheel_dir.glob("openrem-*.whl")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "openrem==1.0.0b3",
                    "-d",
                    str(wheel_dir),
                ],
                check=True,
                timeout=300,
            )
        prefix = "openrem/remapp/tests/test_files/"
        with zipfile.ZipFile(next(wheel_dir.glob("openrem-*.whl"))) as wheel:
            for member in wheel.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    target = OPENREM_FILES / member[len(prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(member))
    return sorted({p for pattern in PATTERNS for p in OPENREM_FILES.glob(pattern)})


def _undefined_lengths(item: Dataset) -> None:
    for element in item:
        if element.VR == "SQ":
            element.is_undefined_length = True
            for child in element.value:
                _undefined_lengths(child)


def large_fluoroscopy_report(template: Path, n_events: int, folder: Path, undefined: bool) -> Path:
    """A report of ``n_events`` events: the template's events repeated with fresh UIDs and scaled doses."""
    name = f"fluoro_{n_events}_{'undefined' if undefined else 'defined'}.dcm"
    target = folder / name
    if target.exists():
        return target
    ds = pydicom.dcmread(template)
    items = list(ds.ContentSequence)
    events = [c for c in items if c.ConceptNameCodeSequence[0].CodeValue == "113706"]
    others = [c for c in items if c.ConceptNameCodeSequence[0].CodeValue != "113706"]
    made = []
    for index in range(n_events):
        event = copy.deepcopy(events[index % len(events)])
        for child in event.ContentSequence:
            code = child.ConceptNameCodeSequence[0].CodeValue
            if code == "113769":
                child.UID = generate_uid()
            elif code in ("122130", "113738") and "MeasuredValueSequence" in child:
                value = float(child.MeasuredValueSequence[0].NumericValue)
                child.MeasuredValueSequence[0].NumericValue = f"{value * (1 + index % 7 / 10):.8g}"
        made.append(event)
    ds.ContentSequence = Sequence(others + made)
    ds.SOPInstanceUID = generate_uid()
    if undefined:
        _undefined_lengths(ds)
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def _touch_all(item: Dataset) -> int:
    count = 0
    for element in item:
        count += 1
        if element.VR == "SQ":
            for child in element.value:
                count += _touch_all(child)
    return count


READERS: dict[str, Callable[[Path], object]] = {
    "dcmread": pydicom.dcmread,
    "reader": read_projection_radiation_dose,
    "dcmread+walk": lambda path: _touch_all(pydicom.dcmread(path)),
}


def timed_rounds(files: list[Path], rounds: int) -> dict[str, list[float]]:
    """Seconds per round for each reader over all files, the readers alternating within each round."""
    times: dict[str, list[float]] = {name: [] for name in READERS}
    for _ in range(rounds):
        for name, read in READERS.items():
            start = time.perf_counter()
            for path in files:
                read(path)
            times[name].append(time.perf_counter() - start)
    return times


def report(label: str, files: list[Path], rounds: int) -> float:
    events = sum(len(read_projection_radiation_dose(p).events) for p in files)  # also warms the file cache
    size = sum(p.stat().st_size for p in files) / 2**20
    times = timed_rounds(files, rounds)
    print(f"\n{label}: {len(files)} files, {size:.1f} MiB, {events} events")
    for name, values in times.items():
        print(
            f"  {name:13s} median {statistics.median(values) * 1000:9.1f} ms"
            f"  range {min(values) * 1000:9.1f}-{max(values) * 1000:9.1f} ms"
        )
    ratio = statistics.median(times["reader"]) / statistics.median(times["dcmread"])
    walk = statistics.median(times["reader"]) / statistics.median(times["dcmread+walk"])
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"  ratio reader / dcmread: {ratio:.2f}x ({verdict} the {TARGET}x target)")
    print(f"  ratio reader / dcmread+walk: {walk:.2f}x")
    return ratio


def _whole_file_reader(path: Path) -> object:
    # The reader as it worked before streaming: the file's bytes and its whole content tree at once.
    lean = read_lean_file(path)
    return read_dataset(lean.dataset if lean is not None else pydicom.dcmread(path), str(path))


def _streamed_events(path: Path) -> object:
    with ProjectionDoseStream(path) as stream:
        count = sum(1 for _ in stream.events())
        return count, stream.report()


MEMORY_READERS: dict[str, Callable[[Path], object]] = {
    "dcmread": pydicom.dcmread,
    "whole-file": _whole_file_reader,
    "reader": read_projection_radiation_dose,
    "streamed": _streamed_events,
}


def traced(read: Callable[[Path], object], path: Path) -> tuple[float, float]:
    """tracemalloc ``(peak, still allocated with the result held)`` in MiB of one read."""
    read(path)  # warm the parsers' code caches and the file cache, which a long-running reader has
    tracemalloc.start()
    result = read(path)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak / 2**20, current / 2**20


def memory_table(paths: list[Path]) -> None:
    """One row per report: the peak of each reader, the reader's result and its working memory."""
    print(
        f"\n  {'events':>6} {'length':>9} {'file MiB':>8} {'dcmread':>8} {'whole-file':>10}"
        f" {'reader':>8} {'result':>8} {'working':>8} {'streamed':>8}   (tracemalloc peak, MiB)"
    )
    for path in paths:
        peaks: dict[str, float] = {}
        result = 0.0
        for name, read in MEMORY_READERS.items():
            peaks[name], current = traced(read, path)
            if name == "reader":
                result = current
        _, n_events, kind = path.stem.split("_")  # as large_fluoroscopy_report names them
        print(
            f"  {n_events:>6} {kind:>9} {path.stat().st_size / 2**20:8.2f}"
            f" {peaks['dcmread']:8.1f} {peaks['whole-file']:10.2f} {peaks['reader']:8.2f} {result:8.2f}"
            f" {peaks['reader'] - result:8.2f} {peaks['streamed']:8.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, nargs="+", default=[100, 500, 2000])
    args = parser.parse_args(argv)
    real = openrem_files()
    report("openrem projection dose SRs", real, args.rounds)
    template = OPENREM_FILES / "RF-RDSR-Siemens-Zee.dcm"
    folder = CACHE / "benchmarks" / "projection"
    for undefined in (True, False):
        generated = [large_fluoroscopy_report(template, n, folder, undefined) for n in args.events]
        kind = "undefined" if undefined else "defined"
        report(f"generated fluoroscopy reports, sequences of {kind} length", generated, args.rounds)
    print(
        "\nmemory of one read of a generated report: 'working' is the reader's peak less its result"
        " (the events it returns); 'streamed' hands the events out one at a time and keeps none"
    )
    memory_table(
        [
            large_fluoroscopy_report(template, n, folder, undefined)
            for n in args.events
            for undefined in (True, False)
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
