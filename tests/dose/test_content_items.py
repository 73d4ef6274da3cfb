"""The raw-bytes content-tree parser gives the same report as pydicom's own parsing, in every encoding."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from resources.dose.errors import NotADoseReportError
from resources.dose.rdsr.ct_radiation_dose import read_ct_radiation_dose, read_dataset


def without_source(report: object) -> dict[str, object]:
    values = dataclasses.asdict(report)  # type: ignore[call-overload]
    values.pop("source")
    return values


@pytest.mark.openrem
@pytest.mark.slow
def test_fast_path_equals_pydicom_parsing_in_explicit_and_implicit_vr(
    openrem_test_files: Path, tmp_path: Path
) -> None:
    compared = 0
    for path in sorted(openrem_test_files.glob("*.dcm")):
        try:
            fast = read_ct_radiation_dose(path)
        except NotADoseReportError:
            continue
        parsed = pydicom.dcmread(path)
        for _element in parsed.iterall():  # make pydicom parse every sequence: the slow path
            pass
        assert without_source(read_dataset(parsed)) == without_source(fast), path.name
        implicit = tmp_path / path.name
        copy = pydicom.dcmread(path)
        copy.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        copy.save_as(implicit, implicit_vr=True, little_endian=True)
        assert without_source(read_ct_radiation_dose(implicit)) == without_source(fast), path.name
        compared += 1
    assert compared >= 14
