"""Cross-check: for every projection dose SR in the openrem wheel, our per-event DAP, dose at RP and AGD
equal what dcmtk's ``dsr2xml`` (an independent SR parser) yields, after the same unit conversion."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pydicom
import pytest

from resources.dose.rdsr.projection_radiation_dose import read_projection_radiation_dose
from tests.dose.test_projection_openrem import projection_files

pytestmark = [pytest.mark.openrem, pytest.mark.dcmtk]

EVENT = ("113706", "DCM")
DAP = ("122130", "DCM")
DOSE_RP = ("113738", "DCM")
AGD = ("111631", "DCM")
HVL = ("111634", "DCM")
ENTRANCE = ("111636", "DCM")
THICKNESS = ("111633", "DCM")
SID = ("113750", "DCM")
DURATION = ("113742", "DCM")
# Written independently of the reader's tables: the units these files use, to Gy.m2 / Gy / mGy / mm / s.
TO_CANONICAL = {
    DAP: {"Gy.m2": 1.0, "Gym2": 1.0, "dGy.cm2": 1e-5},
    DOSE_RP: {"Gy": 1.0, "mGy": 1e-3},
    AGD: {"mGy": 1.0},
    HVL: {"mm": 1.0},
    ENTRANCE: {"mGy": 1.0},
    THICKNESS: {"mm": 1.0},
    SID: {"mm": 1.0},
    DURATION: {"s": 1.0},
}
# Our field for each concept.
FIELDS = {
    DAP: "dose_area_product_gym2",
    DOSE_RP: "dose_rp_gy",
    AGD: "average_glandular_dose_mgy",
    HVL: "half_value_layer_mm",
    ENTRANCE: "entrance_exposure_at_rp_mgy",
    THICKNESS: "compression_thickness_mm",
    SID: "distance_source_to_detector_mm",
    DURATION: "irradiation_duration_s",
}


def _concept(element: ET.Element) -> tuple[str, str] | None:
    concept = element.find("concept")
    if concept is None:
        return None
    return (concept.findtext("value") or "", concept.findtext("scheme/designator") or "")


def dsr2xml_readable_copy(path: Path, folder: Path) -> Path:
    """Eurocolumbus leaves out Relationship Type (type 1) on most event items, which dsr2xml refuses:
    give it a copy with CONTAINS filled in (our reader does not look at relationship types)."""
    ds = pydicom.dcmread(path)
    fixed = False

    def walk(item: pydicom.Dataset) -> None:
        nonlocal fixed
        for child in item.get("ContentSequence", []):
            if "RelationshipType" not in child:
                child.RelationshipType = "CONTAINS"
                fixed = True
            walk(child)

    walk(ds)
    if not fixed:
        return path
    copy = folder / path.name
    ds.save_as(copy)
    return copy


def dsr2xml_events(path: Path) -> list[dict[tuple[str, str], float | None]]:
    """The compared quantities per event container, in canonical units, in document order."""
    result = subprocess.run(
        ["dsr2xml", "-Ev", "-Ee", "-Er", "-Ec", "+Ca", "latin-1", str(path)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    root = ET.fromstring(result.stdout)
    events = []
    for container in root.iter("container"):
        if _concept(container) != EVENT:
            continue
        values: dict[tuple[str, str], float | None] = {}
        for num in container.findall("num"):
            concept = _concept(num)
            if concept not in TO_CANONICAL:
                continue
            text = num.findtext("value")
            unit = num.findtext("unit/value") or ""
            values[concept] = float(text) * TO_CANONICAL[concept][unit] if text else None
        events.append(values)
    return events


@pytest.mark.skipif(shutil.which("dsr2xml") is None, reason="dcmtk's dsr2xml is not installed")
def test_every_projection_dose_sr_matches_dsr2xml(openrem_test_files: Path, tmp_path: Path) -> None:
    files = projection_files(openrem_test_files)
    assert len(files) == 21
    compared = values_compared = 0
    for path in files:
        ours = read_projection_radiation_dose(path).events
        theirs = dsr2xml_events(dsr2xml_readable_copy(path, tmp_path))
        assert len(ours) == len(theirs), path.name
        for index, (event, values) in enumerate(zip(ours, theirs, strict=True)):
            for concept, name in FIELDS.items():
                where = f"{path.name} event {index} {name}"
                assert getattr(event, name) == pytest.approx(values.get(concept), rel=1e-9), where
                values_compared += concept in values
            compared += 1
    assert compared == 580
    assert values_compared > 2000
