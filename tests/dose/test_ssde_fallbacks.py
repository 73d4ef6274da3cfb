"""SSDE where no image gives the size: AP/LAT (AAPM 204 effective diameter), else the AAPM 204 age
table, with the method recorded per event and the reason flagged where neither gives a number.

The age table dicom-lake ships is a template (Report 204's Table 3 could not be sourced); the tests that
need values write their own table, whose numbers are synthetic test inputs, not Report 204's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from resources.dose.dose_rows import EventSeriesLinkRow, IrradiationEventRow
from resources.dose.errors import FactorSetError
from resources.dose.event_ssde import ApLat, events_with_ssde, ssde_methods
from resources.dose.ssde import AGE_TABLE_FILE, AgeTable, conversion_factor, load_age_table
from tests.dicom_builder import write_instance
from tests.dose.conftest import ct_image
from tests.dose.test_ssde import _image_file, disc

STUDY, SERIES, EVENT = "2.25.100", "2.25.101", "2.25.102"
CHEST = {"target_region_code": "43799004", "target_region_scheme": "SCT"}
HEAD = {"target_region_code": "69536005", "target_region_scheme": "SCT"}
# Synthetic, for the interpolation only: 10 cm at birth, 20 cm at 10 years.
TEST_TABLE = AgeTable(((0.0, 100.0), (10.0, 200.0)), "synthetic test table")


def _event(**values: object) -> IrradiationEventRow:
    base: dict[str, object] = {
        "study_instance_uid": STUDY,
        "irradiation_event_uid": EVENT,
        "event_index": 0,
        "origin": "rdsr",
        "ctdivol_mgy": 4.0,
        "phantom": "body_32cm",
        **CHEST,
    }
    return IrradiationEventRow(**{**base, **values})  # type: ignore[arg-type]


def _header_with_age(folder: Path, age: str) -> Path:
    """A localiser of the study (no axial image, so no Dw) whose header carries Patient's Age."""
    return write_instance(ct_image(STUDY, "2.25.900", z=0.0, age=age, localizer=True), folder)


def test_ap_lat_gives_the_effective_diameter_when_no_image_does(tmp_path: Path) -> None:
    [event] = events_with_ssde([_event()], [], [], ap_lat={STUDY: ApLat(180.0, 245.0)})
    diameter_cm = math.sqrt(180.0 * 245.0) / 10.0
    assert event.ssde_method == "ap_lat_aapm204"
    assert event.ssde_mgy == pytest.approx(4.0 * conversion_factor(diameter_cm, 32))
    assert event.water_equivalent_diameter_mm is None  # an effective diameter is not a Dw


def test_an_image_is_preferred_to_ap_lat(tmp_path: Path) -> None:
    link = EventSeriesLinkRow(STUDY, EVENT, SERIES, "irradiation_event_uid")
    files = [_image_file(tmp_path, disc(0.0, 125.0))]
    [event] = events_with_ssde([_event()], [link], files, ap_lat={STUDY: ApLat(100.0, 100.0)})
    assert event.ssde_method == "image_dw_aapm220"


def test_age_table_gives_the_size_of_a_trunk_examination(tmp_path: Path) -> None:
    files = [_header_with_age(tmp_path, "005Y")]
    chest, head = events_with_ssde(
        [_event(), _event(event_index=1, irradiation_event_uid="2.25.103", phantom="head_16cm", **HEAD)],
        [],
        files,
        age_table=TEST_TABLE,
    )
    assert chest.ssde_method == "age_table_aapm204"
    assert chest.ssde_mgy == pytest.approx(4.0 * conversion_factor(15.0, 32))  # 5 y -> 15 cm here
    assert chest.water_equivalent_diameter_mm is None
    assert head.ssde_mgy is None and "ssde_age_table_not_for_region" in head.flags


def test_ages_outside_the_table_or_unknown_give_no_number(tmp_path: Path) -> None:
    [old] = events_with_ssde([_event()], [], [_header_with_age(tmp_path, "040Y")], age_table=TEST_TABLE)
    assert old.ssde_mgy is None and "ssde_age_outside_table" in old.flags  # never extrapolated
    [unknown] = events_with_ssde([_event()], [], [], age_table=TEST_TABLE)
    assert unknown.ssde_mgy is None and "ssde_no_age" in unknown.flags
    assert "ssde_no_linked_series" in unknown.flags  # the first reason is still given


def test_the_shipped_age_table_is_a_template_and_says_so(tmp_path: Path) -> None:
    table, why = load_age_table(AGE_TABLE_FILE)
    assert table is None and why is not None and "template" in why
    [event] = events_with_ssde([_event()], [], [_header_with_age(tmp_path, "005Y")])
    assert event.ssde_mgy is None and event.ssde_method is None
    assert "ssde_age_table_unavailable" in event.flags


def test_a_filled_age_table_loads_and_interpolates(tmp_path: Path) -> None:
    path = tmp_path / "age.csv"
    path.write_text("# source: synthetic test table\nage_years,effective_diameter_cm\n0,10\n10,20\n")
    table, why = load_age_table(path)
    assert why is None and table is not None and table.source == "synthetic test table"
    assert table.diameter_mm(2.5) == pytest.approx(125.0)
    assert table.diameter_mm(10.5) is None
    path.write_text("# source: x\nage_years,effective_diameter_cm\n5,10\n1,20\n")
    with pytest.raises(FactorSetError, match="ascending"):
        load_age_table(path)


def test_methods_are_counted_as_a_person_reads_them(tmp_path: Path) -> None:
    events = events_with_ssde(
        [
            _event(ssde_mgy=5.0),
            _event(event_index=1, irradiation_event_uid="2.25.104"),
            _event(event_index=2, irradiation_event_uid="2.25.105", study_instance_uid="2.25.7"),
            _event(event_index=3, irradiation_event_uid="2.25.106", ctdivol_mgy=None),
        ],
        [],
        [],
        ap_lat={STUDY: ApLat(200.0, 300.0)},
    )
    assert ssde_methods(events) == {"AP/LAT": 1, "dose report SSDE": 1, "no SSDE": 1}
