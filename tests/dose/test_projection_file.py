"""The byte-level file reader of projection dose SRs gives what the pydicom path gives, on every real file,
including the undefined-length ones it exists for, and a cut undefined-length file gives a flagged part."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest

from resources.dose.rdsr.projection_file import peek_sop_class, read_lean_file
from resources.dose.rdsr.projection_radiation_dose import (
    TRUNCATED_FLAG,
    read_dataset,
    read_projection_radiation_dose,
)
from tests.dose.test_projection_openrem import projection_files

pytestmark = pytest.mark.openrem

UNDEFINED_LENGTH = "RF-Pat-Orientation-Modifier-Missing.dcm"  # 3 MB, every sequence of undefined length


def test_byte_reader_equals_the_pydicom_path_on_every_file(openrem_test_files: Path) -> None:
    lean_read = 0
    for path in projection_files(openrem_test_files):
        ours = read_projection_radiation_dose(path)
        theirs = read_dataset(pydicom.dcmread(path, force=True), str(path))
        assert dataclasses.replace(ours, source="") == dataclasses.replace(theirs, source=""), path.name
        lean_read += read_lean_file(path) is not None
    assert lean_read == 20  # all but Giotto's big-endian file


def test_the_undefined_length_file_is_parsed_here(openrem_test_files: Path) -> None:
    lean = read_lean_file(openrem_test_files / UNDEFINED_LENGTH)
    assert lean is not None and lean.content is not None and not lean.truncated
    assert sum(1 for item in lean.content if item) > 316


def test_peeked_sop_class_is_pydicoms(openrem_test_files: Path) -> None:
    peeked = 0
    for path in sorted(openrem_test_files.glob("*.dcm")):
        sop_class = peek_sop_class(path)
        if sop_class is None:
            continue
        expected = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"], force=True)
        assert sop_class == str(expected.SOPClassUID), path.name
        peeked += 1
    assert peeked >= 50


@pytest.mark.parametrize("fraction", [0.3, 0.8])
def test_cut_undefined_length_report_is_a_flagged_part(
    openrem_test_files: Path, tmp_path: Path, fraction: float
) -> None:
    data = (openrem_test_files / UNDEFINED_LENGTH).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * fraction)])
    report = read_projection_radiation_dose(cut)
    assert report.partial and TRUNCATED_FLAG in report.flags
    assert 0 < len(report.events) < 316
    full = read_projection_radiation_dose(openrem_test_files / UNDEFINED_LENGTH)
    assert report.events == full.events[: len(report.events)]
