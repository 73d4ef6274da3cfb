"""Effective dose: k-factor look-up by region and age band, phantom handling, no number without region/age."""

from __future__ import annotations

import pytest

from resources.dose.codes import BodyRegion, Code, Phantom
from resources.dose.effective_dose import (
    effective_dose_for_event,
    load_factor_set,
    parse_patient_age,
    region_for_event,
    sum_study,
)
from resources.dose.errors import FactorSetError
from resources.dose.exam_context import region_from_inference

AAPM = load_factor_set("aapm96_icrp60")
NCI = load_factor_set("nci_icrp103")


def test_factor_sets_carry_source_and_edition() -> None:
    assert "AAPM Report 96" in AAPM.source and AAPM.edition == "2008"
    assert "Lee et al." in NCI.source and NCI.edition == "2012"
    with pytest.raises(FactorSetError, match="available: aapm96_icrp60, nci_icrp103"):
        load_factor_set("icrp_999")


@pytest.mark.parametrize(
    ("region", "age", "band", "k"),
    [
        (BodyRegion.CHEST, 45.0, "adult", 0.014),
        (BodyRegion.HEAD, 45.0, "adult", 0.0021),
        (BodyRegion.ABDOMEN_AND_PELVIS, 0.2, "0y", 0.049),  # 0.2 y: nearest band 0 y
        (BodyRegion.ABDOMEN_AND_PELVIS, 0.6, "1y", 0.030),  # 0.6 y: nearer 1 y than 0 y
        (BodyRegion.HEAD, 3.0, "5y", 0.0040),  # tie between 1 y and 5 y goes to the older band
        (BodyRegion.CHEST, 7.4, "5y", 0.018),
        (BodyRegion.CHEST, 7.6, "10y", 0.013),
        (BodyRegion.CHEST, 13.9, "10y", 0.013),
        (BodyRegion.CHEST, 14.0, "adult", 0.014),  # tie 10 y / adult (nominal 18 y) -> adult
        (BodyRegion.NECK, 10.0, "10y", 0.0079),
    ],
)
def test_age_bands_are_nearest_nominal_age(region: BodyRegion, age: float, band: str, k: float) -> None:
    phantom = Phantom.HEAD_16CM if band != "adult" or region == BodyRegion.HEAD else Phantom.BODY_32CM
    result = effective_dose_for_event(100.0, phantom, region, "target_region_code", age, AAPM)
    assert (result.age_band, result.k) == (band, k)
    assert result.effective_dose_msv == pytest.approx(100.0 * k)
    assert result.method == "k_x_dlp"
    assert result.factor_set == "aapm96_icrp60" and result.region == region


def test_icrp103_set_has_a_15_year_band() -> None:
    result = effective_dose_for_event(200.0, Phantom.BODY_32CM, BodyRegion.CHEST, "body_part", 15.0, NCI)
    assert (result.age_band, result.k) == ("15y", 0.0121)
    assert result.effective_dose_msv == pytest.approx(2.42)


def test_phantom_actually_used_is_honoured() -> None:
    # Adult chest factor assumes the 32 cm phantom; a DLP reported on the 16 cm phantom is halved first.
    on_body = effective_dose_for_event(
        300.0, Phantom.BODY_32CM, BodyRegion.CHEST, "target_region_code", 50, AAPM
    )
    on_head = effective_dose_for_event(
        300.0, Phantom.HEAD_16CM, BodyRegion.CHEST, "target_region_code", 50, AAPM
    )
    assert on_body.effective_dose_msv == pytest.approx(4.2)
    assert on_head.effective_dose_msv == pytest.approx(2.1)
    assert on_head.method == "k_x_dlp_phantom_converted"
    # Paediatric factors assume the 16 cm phantom: a 32 cm DLP is doubled.
    child = effective_dose_for_event(
        100.0, Phantom.BODY_32CM, BodyRegion.CHEST, "target_region_code", 5, AAPM
    )
    assert child.effective_dose_msv == pytest.approx(100 * 2 * 0.018)
    unknown = effective_dose_for_event(100.0, None, BodyRegion.CHEST, "target_region_code", 50, AAPM)
    assert unknown.method == "k_x_dlp_phantom_assumed"


def test_unknown_age_or_region_gives_no_number_and_a_reason() -> None:
    no_age = effective_dose_for_event(
        500.0, Phantom.BODY_32CM, BodyRegion.CHEST, "target_region_code", None, AAPM
    )
    assert no_age.effective_dose_msv is None and no_age.reason == "patient age unknown"
    no_region = effective_dose_for_event(500.0, Phantom.BODY_32CM, None, None, 40.0, AAPM)
    assert no_region.effective_dose_msv is None and "region unknown" in (no_region.reason or "")
    # ICRP 103 set has no neck factor: no number, not a neighbouring region's.
    no_factor = effective_dose_for_event(100.0, Phantom.BODY_32CM, BodyRegion.NECK, "body_part", 40, NCI)
    assert no_factor.effective_dose_msv is None and "no factor for region neck" in (no_factor.reason or "")


def test_region_from_target_code_then_body_part() -> None:
    assert region_for_event(Code("T-D4000", "SRT"), BodyRegion.HEAD) == (
        BodyRegion.ABDOMEN_AND_PELVIS,
        "target_region_code",
    )
    assert region_for_event(Code("416775004", "SCT"), None) == (
        BodyRegion.CHEST_ABDOMEN_PELVIS,
        "target_region_code",
    )
    # Meaning never matters; an unknown code falls back to the body part.
    assert region_for_event(Code("99999", "99GEMS"), BodyRegion.CHEST) == (BodyRegion.CHEST, "body_part")
    assert region_for_event(None, None) == (None, None)


def test_curation_region_result_is_translated() -> None:
    class Result:
        def __init__(self, name: str, code: str, confidence: float) -> None:
            self.name, self.code, self.confidence, self.evidence = name, code, confidence, ()

    assert region_from_inference(Result("chest", "43799004", 0.9)) == BodyRegion.CHEST
    assert region_from_inference(Result("abdomen_and_pelvis", "", 0.9)) == BodyRegion.ABDOMEN_AND_PELVIS
    assert region_from_inference(Result("extremity", "66019005", 0.9)) is None
    assert region_from_inference(Result("chest", "43799004", 0.2)) is None  # too unsure
    assert region_from_inference(None) is None


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("045Y", 45.0),
        ("006M", 0.5),
        ("026W", 26 / 52.1775),
        ("003D", 3 / 365.25),
        ("", None),
        ("abc", None),
        (None, None),
    ],
)
def test_patient_age_strings(text: str | None, years: float | None) -> None:
    assert parse_patient_age(text) == (pytest.approx(years) if years is not None else None)


def test_study_sum_refuses_a_partial_total() -> None:
    chest = effective_dose_for_event(
        100.0, Phantom.BODY_32CM, BodyRegion.CHEST, "target_region_code", 40, AAPM
    )
    unknown = effective_dose_for_event(50.0, Phantom.BODY_32CM, None, None, 40, AAPM)
    scout = effective_dose_for_event(None, None, None, None, 40, AAPM)
    complete = sum_study([chest, scout])
    assert complete.effective_dose_msv == pytest.approx(1.4) and complete.reason is None
    partial = sum_study([chest, unknown, scout])
    assert partial.effective_dose_msv is None
    assert partial.effective_dose_partial_msv == pytest.approx(1.4)
    assert partial.events_without_number == 1 and "region unknown" in (partial.reason or "")
