"""Cross-check: for every CT dose SR in the openrem wheel, our per-event CTDIvol and DLP equal what dcmtk's
``dsr2xml`` (an independent SR parser) yields."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pydicom
import pytest

from resources.dose.errors import NotADoseReportError
from resources.dose.rdsr.ct_radiation_dose import read_ct_radiation_dose

pytestmark = [pytest.mark.openrem, pytest.mark.dcmtk]

CT_ACQUISITION = ("113819", "DCM")
MEAN_CTDIVOL = ("113830", "DCM")
DLP = ("113838", "DCM")


def _concept(element: ET.Element) -> tuple[str, str] | None:
    concept = element.find("concept")
    if concept is None:
        return None
    return (concept.findtext("value") or "", concept.findtext("scheme/designator") or "")


def dsr2xml_readable_copy(path: Path, folder: Path) -> Path:
    """SpectrumDynamics writes Value Type "PERSON NAME" (not PNAME), which dsr2xml refuses outright: give
    it a copy with only that spelling corrected (our reader ignores person names anyway)."""
    ds = pydicom.dcmread(path)
    fixed = False

    def walk(item: pydicom.Dataset) -> None:
        nonlocal fixed
        for child in item.get("ContentSequence", []):
            if child.get("ValueType") == "PERSON NAME":
                child.ValueType = "PNAME"
                fixed = True
            walk(child)

    walk(ds)
    if not fixed:
        return path
    copy = folder / path.name
    ds.save_as(copy)
    return copy


def dsr2xml_events(path: Path) -> list[tuple[float | None, float | None]]:
    """(CTDIvol, DLP) per CT Acquisition container, in document order, as dsr2xml reads them."""
    result = subprocess.run(
        ["dsr2xml", "-Ev", "-Ee", "-Er", "-Ec", "+Ca", "latin-1", str(path)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    root = ET.fromstring(result.stdout)
    events = []
    for container in root.iter("container"):
        if _concept(container) != CT_ACQUISITION:
            continue
        values: dict[tuple[str, str], float] = {}
        for num in container.iter("num"):
            concept = _concept(num)
            if concept in (MEAN_CTDIVOL, DLP):
                values[concept] = float(num.findtext("value") or "nan")
        events.append((values.get(MEAN_CTDIVOL), values.get(DLP)))
    return events


def ct_dose_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.glob("*.dcm")):
        try:
            read_ct_radiation_dose(path)
        except NotADoseReportError:
            continue
        files.append(path)
    return files


@pytest.mark.skipif(shutil.which("dsr2xml") is None, reason="dcmtk's dsr2xml is not installed")
def test_every_ct_dose_sr_matches_dsr2xml(openrem_test_files: Path, tmp_path: Path) -> None:
    files = ct_dose_files(openrem_test_files)
    assert len(files) >= 14  # every CT RDSR / Enhanced SR of the wheel, plus the PET/CT one
    compared = 0
    for path in files:
        ours = [(e.ctdivol_mgy, e.dlp_mgycm) for e in read_ct_radiation_dose(path).events]
        theirs = dsr2xml_events(dsr2xml_readable_copy(path, tmp_path))
        assert len(ours) == len(theirs), path.name
        for index, ((our_ctdi, our_dlp), (their_ctdi, their_dlp)) in enumerate(
            zip(ours, theirs, strict=True)
        ):
            assert our_ctdi == pytest.approx(their_ctdi), f"{path.name} event {index} CTDIvol"
            assert our_dlp == pytest.approx(their_dlp), f"{path.name} event {index} DLP"
            compared += 1
    assert compared > 60
