"""Clean Structured Content: an RDSR stays a parseable dose report with every numeric value intact."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from resources.deid.engine import Deidentifier

_NUMERIC_VALUE = 0x0040A30A
_UID_VALUE = 0x0040A124


def _numeric_items(ds: Dataset) -> list[tuple[str, str]]:
    """(concept code, value) of every NUM item of the content tree, in tree order."""
    out = []
    for elem in ds.iterall():
        if elem.tag == 0x0040A300:  # Measured Value Sequence
            for item in elem.value:
                out.append(
                    (
                        str(item.get("MeasurementUnitsCodeSequence", [Dataset()])[0].get("CodeValue", "")),
                        str(item.get(_NUMERIC_VALUE).value if _NUMERIC_VALUE in item else ""),
                    )
                )
    return out


def _codes(ds: Dataset) -> list[str]:
    """Code values of the content tree (header code sequences follow the profile, e.g. X)."""
    items = [i for top in ds.get("ContentSequence", []) for i in _items(top)]
    return [str(e.value) for item in items for e in item if e.tag == 0x00080100]


def _items(ds: Dataset) -> list[Dataset]:
    out = [ds]
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
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
    engine: Deidentifier, openrem_test_files: Path
) -> None:
    """Every numeric item and code of each real vendor SR survives; the dose reader sees the same doses."""
    rdsr = pytest.importorskip("resources.dose.rdsr.ct_radiation_dose")
    reports = _ct_dose_reports(openrem_test_files)
    assert len(reports) >= 10
    compared = 0
    for path in reports:
        source = pydicom.dcmread(path)
        expected_numbers, expected_codes = _numeric_items(source), _codes(source)
        try:
            before = rdsr.read_dataset(source, path.name)
        except Exception:
            before = None
        result = engine.deidentify_file(path)
        assert result.outcome == "deidentified", (path.name, result.reasons)
        assert result.dataset is not None
        assert _numeric_items(result.dataset) == expected_numbers, path.name
        assert _codes(result.dataset) == expected_codes, path.name
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
