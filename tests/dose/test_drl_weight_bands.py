"""Paediatric DRLs (EC RP 185): head by age band, body by the curated patient weight, and the studies
that no band can take counted with their reason rather than dropped or forced into a band."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from resources.dose.audit_inputs import report_studies
from resources.dose.drl import (
    NO_AGE,
    NO_WEIGHT,
    OUTSIDE_BANDS,
    AuditStudy,
    audit,
    load_drl_set,
    medians_markdown,
)
from resources.warehouse.dose_tables import StudyDose
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import Study
from tests.warehouse.backends import BACKENDS, make_warehouse

__all__ = ["make_warehouse"]  # the fixture, used through the parameter of the same name

DAY = "2026-03-02"


def _study(uid: str, category: str, ctdi: float, dlp: float, **values: float | None) -> AuditStudy:
    return AuditStudy(uid, "CT1", DAY, category, "x", ctdi, dlp, **values)  # type: ignore[arg-type]


def test_body_studies_are_placed_by_weight_and_head_studies_by_age() -> None:
    rp185 = load_drl_set("eu_rp185_paediatric_2018")
    studies = [
        _study("w1", "abdomen_pelvis", 6.0, 160.0, age_years=7.0, weight_kg=22.0),  # 15 to <30 kg
        _study("w2", "abdomen_pelvis", 5.0, 140.0, age_years=9.0, weight_kg=29.9),  # 15 to <30 kg
        _study("w3", "abdomen_pelvis", 3.0, 100.0, age_years=2.0, weight_kg=12.0),  # 5 to <15 kg
        _study("h1", "head", 45.0, 600.0, age_years=8.0, weight_kg=22.0),  # head: age decides, >6 y
    ]
    result = audit(studies, rp185, "month")
    groups = {g.category: g for g in result.groups}
    assert set(groups) == {
        "abdomen_pelvis:Abdomen 15 to <30 kg",
        "abdomen_pelvis:Abdomen 5 to <15 kg",
        "head:Head 6 to <16 years",
    }
    middle = groups["abdomen_pelvis:Abdomen 15 to <30 kg"]
    assert (middle.n_studies, middle.drl_ctdivol_mgy, middle.drl_dlp_mgycm) == (2, 5.4, 150)
    assert middle.median_dlp_mgycm == 150.0 and middle.median_dlp_exceeds is False
    assert middle.exceeding_study_uids == ("w1",)  # 6.0 > 5.4 mGy and 160 > 150 mGy cm
    assert groups["head:Head 6 to <16 years"].drl_dlp_mgycm == 650
    assert result.band_misses == {} and result.categories_without_level == {}


def test_studies_no_band_can_take_are_counted_with_the_reason() -> None:
    rp185 = load_drl_set("eu_rp185_paediatric_2018")
    studies = [
        _study("a", "chest", 2.0, 60.0, age_years=6.0, weight_kg=None),
        _study("b", "chest", 2.0, 60.0, age_years=None, weight_kg=None),
        _study("c", "chest", 2.0, 60.0, age_years=None, weight_kg=20.0),
        _study("d", "chest", 9.0, 300.0, age_years=45.0, weight_kg=70.0),  # an adult of a band's weight
        _study("e", "chest", 3.0, 90.0, age_years=12.0, weight_kg=95.0),  # heavier than the last band
        _study("f", "head", 40.0, 500.0, age_years=None, weight_kg=20.0),
    ]
    result = audit(studies, rp185, "month")
    assert result.groups == []
    assert result.band_misses == {
        ("chest", NO_WEIGHT): 2,
        ("chest", NO_AGE): 1,
        ("chest", OUTSIDE_BANDS): 2,
        ("head", NO_AGE): 1,
    }
    assert result.categories_without_level == {"chest": 5, "head": 1}
    table = medians_markdown(result)
    assert f"- chest: 2 studies not audited, {NO_WEIGHT}" in table
    assert f"- head: 1 study not audited, {NO_AGE}" in table


def test_a_weight_puts_a_study_into_a_band_that_its_absence_keeps_it_out_of() -> None:
    rp185 = load_drl_set("eu_rp185_paediatric_2018")
    unweighed = _study("a", "chest", 2.0, 60.0, age_years=6.0)
    assert audit([unweighed], rp185).groups == []
    [group] = audit([dataclasses.replace(unweighed, weight_kg=18.0)], rp185).groups
    assert group.category == "chest:Chest 15 to <30 kg" and group.drl_dlp_mgycm == 70


def test_national_sets_do_not_mention_bands() -> None:
    result = audit([_study("a", "chest", 8.0, 300.0, weight_kg=None)], load_drl_set("uk_2022"))
    assert len(result.groups) == 1 and result.band_misses == {}
    assert "not audited" not in medians_markdown(result)


def _dose_rows(uids: list[str]) -> list[dict[str, object]]:
    return [
        {
            "study_instance_uid": uid,
            "origin": "rdsr",
            "n_events": 1,
            "n_events_with_dose": 1,
            "device": "CT label",
            "drl_category": "chest",
            "patient_age_years": 8.0,
            "study_date": dt.date(2025, 7, 1),
            "ctdivol_diagnostic_mean_mgy": 2.0,
            "dlp_total_mgycm": 60.0,
        }
        for uid in uids
    ]


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_report_studies_carry_the_curated_weight_of_their_partition(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    make_warehouse.replace_partition(
        Lineage(DAY, "test"),
        {
            Study: [
                {"study_instance_uid": "s1", "patient_weight_kg": 21.5},
                {"study_instance_uid": "s2", "patient_weight_kg": None},
            ],
            StudyDose: _dose_rows(["s1", "s2", "s3"]),  # s3: no curated study row
        },
    )
    weights = {s.study_instance_uid: s.patient_weight_kg for s in report_studies(make_warehouse)}
    assert weights == {"s1": 21.5, "s2": None, "s3": None}


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_report_studies_of_a_warehouse_before_revision_0009_have_no_weight(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade("0008")
    make_warehouse.replace_partition(Lineage(DAY, "test"), {StudyDose: _dose_rows(["s1"])})
    [study] = report_studies(make_warehouse)
    assert study.patient_weight_kg is None and study.dlp_mgycm == 60.0
