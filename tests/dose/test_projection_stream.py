"""The streamed reading of projection dose SRs: the same report as the whole-file reading on every real file,
cut and damaged copies included, with a window small enough that items straddle it; memory that does not
grow with the report; events handed out one at a time, then the rest of the report."""

from __future__ import annotations

import dataclasses
import random
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from resources.dose.errors import UnreadableFileError
from resources.dose.rdsr import projection_radiation_dose as prd
from resources.dose.rdsr import projection_stream
from resources.dose.rdsr.projection_radiation_dose import (
    TRUNCATED_FLAG,
    ProjectionDoseStream,
    read_projection_radiation_dose,
)

pytestmark = pytest.mark.openrem

ZEE = "RF-RDSR-Siemens-Zee.dcm"
IRRADIATION_EVENT = "113706"


def _outcome(read: Callable[[Path], object], path: Path) -> object:
    """The report, or the error's type and message with the file's name taken out."""
    try:
        return read(path)
    except Exception as exc:
        return type(exc).__name__, str(exc).replace(str(path), "<file>")


def _whole_file(path: Path) -> object:
    # The reading that holds the file and its content tree in memory at once (the reader before it
    # streamed, and still its fallback): the reference every streamed read must equal.
    return prd._read_whole_file(path, str(path))


def _variants(path: Path, folder: Path, rng: random.Random) -> list[Path]:
    """The file, copies cut at a few offsets and copies with a few bytes overwritten."""
    data = path.read_bytes()
    made = [path]
    if len(data) < 400:
        return made
    for index, at in enumerate(sorted(rng.sample(range(300, len(data)), 3))):
        cut = folder / f"{path.stem}.cut{index}.dcm"
        cut.write_bytes(data[:at])
        damaged = folder / f"{path.stem}.damaged{index}.dcm"
        damaged.write_bytes(data[:at] + bytes(rng.randrange(256) for _ in range(6)) + data[at + 6 :])
        made += [cut, damaged]
    return made


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's warnings on the damaged copies' values
def test_streamed_read_equals_the_whole_file_read_on_every_file_cut_and_damaged(
    openrem_test_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A window of 997 bytes and no read-ahead: nearly every item is retried across windows.
    monkeypatch.setattr(projection_stream, "CHUNK", 997)
    monkeypatch.setattr(projection_stream, "_AHEAD", 8)
    monkeypatch.setattr(projection_stream, "_FIRST_READ", 200)
    rng = random.Random(13)
    compared = reports = partial = 0
    for path in sorted(p for p in openrem_test_files.glob("*.dcm")):
        variants = _variants(path, tmp_path, rng) if "RDSR" in path.name else [path]
        for variant in variants:
            expected = _outcome(_whole_file, variant)
            assert _outcome(read_projection_radiation_dose, variant) == expected, variant.name
            compared += 1
            if isinstance(expected, prd.ProjectionXRayRadiationDose):
                reports += 1
                partial += expected.partial
    assert compared > 250 and reports > 60 and partial > 20


def _generated_report(template: Path, n_events: int, folder: Path, undefined: bool) -> Path:
    """A report of ``n_events`` events: the template's events repeated (the same objects, written again)."""
    ds = pydicom.dcmread(template)
    children = list(ds.ContentSequence)
    events = [c for c in children if c.ConceptNameCodeSequence[0].CodeValue == IRRADIATION_EVENT]
    others = [c for c in children if c.ConceptNameCodeSequence[0].CodeValue != IRRADIATION_EVENT]
    ds.ContentSequence = Sequence(others + [events[i % len(events)] for i in range(n_events)])
    _set_lengths(ds, undefined)
    target = folder / f"generated_{n_events}_{undefined}.dcm"
    ds.save_as(target, enforce_file_format=True)
    return target


def _set_lengths(item: Dataset, undefined: bool) -> None:
    for element in item:
        if element.VR == "SQ":
            element.is_undefined_length = undefined
            for child in element.value:
                _set_lengths(child, undefined)


def _peak_mib(read: Callable[[Path], object], path: Path) -> float:
    read(path)  # the parsers' code caches warm, as in a long-running reader
    tracemalloc.start()
    try:
        read(path)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _stream_events(path: Path) -> object:
    with ProjectionDoseStream(path) as stream:
        return sum(1 for _ in stream.events()), stream.report()


def _repeated_events(template: Path, n_events: int, folder: Path, undefined: bool) -> Path:
    """``template`` (defined lengths) with its last event's item repeated to ``n_events`` events.

    Made from the bytes, which is instant where pydicom takes seconds to write hundreds of events.
    ``undefined``: the Content Sequence and its items rewritten with undefined lengths and delimiters.
    """
    data = template.read_bytes()
    offsets = _content_item_offsets(data)
    start = data.index(b"\x40\x00\x30\xa7SQ\x00\x00")
    end = start + 12 + struct.unpack_from("<I", data, start + 8)[0]
    items = [data[a:b] for a, b in zip(offsets, [*offsets[1:], end], strict=True)]
    items = items[:-1] + [items[-1]] * n_events
    if undefined:
        body = b"".join(
            b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + i[8:] + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" for i in items
        )
        sequence = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + body + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    else:
        body = b"".join(items)
        sequence = b"\x40\x00\x30\xa7SQ\x00\x00" + struct.pack("<I", len(body)) + body
    target = folder / f"repeated_{n_events}_{undefined}.dcm"
    target.write_bytes(data[:start] + sequence + data[end:])
    return target


@pytest.mark.parametrize("undefined", [True, False])
def test_streamed_memory_does_not_grow_with_the_report(
    openrem_test_files: Path, tmp_path: Path, undefined: bool
) -> None:
    template = _generated_report(openrem_test_files / ZEE, 8, tmp_path, undefined=False)
    small = _repeated_events(template, 120, tmp_path, undefined)
    large = _repeated_events(template, 600, tmp_path, undefined)
    assert len(read_projection_radiation_dose(large).events) == 600 - 1 + 8
    large_mib = large.stat().st_size / 2**20
    assert large_mib > 4 * small.stat().st_size / 2**20 > 2  # both well past the stream's window
    whole_small, whole_large = _peak_mib(_whole_file, small), _peak_mib(_whole_file, large)
    stream_small, stream_large = _peak_mib(_stream_events, small), _peak_mib(_stream_events, large)
    # The measure sees growth: the whole-file reading grows with the file ...
    assert whole_large > 3 * whole_small and whole_large > large_mib
    # ... the stream does not: a window and one event, a fraction of the large file's own size.
    assert stream_large < stream_small * 1.15 + 0.05
    assert stream_large < large_mib / 3
    # The whole report read streamed holds the events, but neither the file nor its content tree.
    assert _peak_mib(read_projection_radiation_dose, large) < whole_large / 3


def test_stream_hands_out_the_events_then_the_rest_of_the_report(openrem_test_files: Path) -> None:
    path = openrem_test_files / "RF-RDSR-Philips_Azurion.dcm"
    full = read_projection_radiation_dose(path)
    stream = ProjectionDoseStream(path)
    with pytest.raises(RuntimeError, match="events"):
        stream.report()
    events = tuple(stream.events())
    assert len(events) == 89 and events == full.events
    assert stream.report() == dataclasses.replace(full, events=())
    assert stream.report().accumulated  # totals per plane, read while streaming


def test_stream_of_a_cut_file_gives_the_leading_events_and_a_flagged_report(
    openrem_test_files: Path, tmp_path: Path
) -> None:
    data = (openrem_test_files / ZEE).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with ProjectionDoseStream(cut) as stream:
        events = list(stream.events())
        report = stream.report()
    full = read_projection_radiation_dose(openrem_test_files / ZEE)
    assert 0 < len(events) < len(full.events)
    assert events == list(full.events[: len(events)])
    assert report.partial and TRUNCATED_FLAG in report.flags


def _content_item_offsets(data: bytes) -> list[int]:
    """Offsets of the top-level Content Sequence's items in an explicit-VR file of defined lengths."""
    start = data.index(b"\x40\x00\x30\xa7SQ\x00\x00")  # the first is the top level: the others nest in it
    length = struct.unpack_from("<I", data, start + 8)[0]
    pos, end, offsets = start + 12, start + 12 + length, []
    while pos < end:
        offsets.append(pos)
        pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
    return offsets


def test_damage_inside_a_defined_length_tree_ends_the_stream_flagged(
    openrem_test_files: Path, tmp_path: Path
) -> None:
    path = _generated_report(openrem_test_files / ZEE, 20, tmp_path, undefined=False)
    data = bytearray(path.read_bytes())
    offsets = _content_item_offsets(bytes(data))
    data[offsets[-6] : offsets[-6] + 4] = b"\xfe\xff\x00\xe1"  # not an item tag: damage, not a cut
    damaged = tmp_path / "damaged.dcm"
    damaged.write_bytes(bytes(data))
    with ProjectionDoseStream(damaged) as stream:
        events = list(stream.events())
        report = stream.report()
    assert len(events) == 14 and report.partial and TRUNCATED_FLAG in report.flags
    # The whole report is read the whole-file way, which leaves the defined-length tree to pydicom.
    assert _outcome(read_projection_radiation_dose, damaged) == _outcome(_whole_file, damaged)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's, on the unended element, in the reference
def test_damage_after_the_content_tree_raises_once_events_were_handed_out(
    openrem_test_files: Path, tmp_path: Path
) -> None:
    path = _generated_report(openrem_test_files / ZEE, 20, tmp_path, undefined=False)
    # A private OB element (00F1,1000) of undefined length after the content tree: not a sequence, so
    # the stream cannot walk past it.
    damaged = tmp_path / "trailing.dcm"
    damaged.write_bytes(path.read_bytes() + b"\xf1\x00\x00\x10OB\x00\x00\xff\xff\xff\xff" + b"\x00" * 16)
    handed_out = []
    with pytest.raises(UnreadableFileError, match="after its content tree"):
        for event in ProjectionDoseStream(damaged).events():
            handed_out.append(event)
    assert len(handed_out) == 20
    assert _outcome(read_projection_radiation_dose, damaged) == _outcome(_whole_file, damaged)
