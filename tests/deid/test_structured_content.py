"""Clean Structured Content: an RDSR stays a parseable dose report with every numeric value intact."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from resources.deid.engine import DeidResult

_NUMERIC_VALUE = 0x0040A30A
_UID_VALUE = 0x0040A124


def _content(ds: Dataset) -> tuple[list[tuple[str, str]], list[str]]:
    """(concept code, value) of every NUM item of the content tree, and its code values, in tree order
    (header code sequences follow the profile, e.g. X, so only the content tree is compared)."""
    numbers, codes = [], []
    for item in (i for top in ds.get("ContentSequence", []) for i in _items(top)):
        if 0x00080100 in item:
            codes.append(str(item[0x00080100].value))
        for measured in item.get(0x0040A300, None) or []:  # Measured Value Sequence
            units = measured.get("MeasurementUnitsCodeSequence", [Dataset()])[0]
            value = measured.get(_NUMERIC_VALUE)
            numbers.append((str(units.get("CodeValue", "")), str(value.value if value is not None else "")))
    return numbers, codes


@functools.cache
def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:  # private or unknown: not part of the content tree
        return False


def _items(ds: Dataset) -> list[Dataset]:
    """``ds`` and every item nested in it, in tree order. Only sequences are decoded: the leaves
    stay raw (decoding every element of the larger vendor reports took most of this test's time)."""
    out = [ds]
    for elem in ds.elements():
        if elem.VR == "SQ" or _is_sequence(elem.tag):
            for item in ds[elem.tag].value or []:
                out.extend(_items(item))
    return out


def _ct_dose_reports(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        if ds.get("Modality") == "SR" and "ContentSequence" in ds:
            found.append(path)
    return found


@pytest.mark.openrem
def test_vendor_rdsrs_keep_content_tree_and_give_identical_dose_results(
    deidentified: Callable[[Path], DeidResult], openrem_test_files: Path
) -> None:
    """Every numeric item and code of each real vendor SR survives; the dose reader sees the same doses."""
    rdsr = pytest.importorskip("resources.dose.rdsr.ct_radiation_dose")
    reports = _ct_dose_reports(openrem_test_files)
    assert len(reports) >= 10
    compared = 0
    for path in reports:
        source = pydicom.dcmread(path)
        expected_numbers, expected_codes = _content(source)
        try:
            before = rdsr.read_dataset(source, path.name)
        except Exception:
            before = None
        result = deidentified(path)
        assert result.outcome == "deidentified", (path.name, result.reasons)
        assert result.dataset is not None
        numbers, codes = _content(result.dataset)
        assert numbers == expected_numbers, path.name
        assert codes == expected_codes, path.name
        assert result.dataset.PatientIdentityRemoved == "YES"
        if before is None:
            continue
        after = rdsr.read_dataset(result.dataset, path.name)
        assert len(after.events) == len(before.events), path.name
        for a, b in zip(after.events, before.events, strict=True):
            assert (a.ctdivol_mgy, a.dlp_mgycm) == (b.ctdivol_mgy, b.dlp_mgycm), path.name
        assert after.accumulated == before.accumulated, path.name
        compared += 1
    assert compared >= 5
