"""Normalisation rules with known answers: body region, exam names, device names, units, ages, flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from resources.curation.ages import age_band, patient_age
from resources.curation.body_region import (
    CONFIDENCE_BODY_PART,
    BodyRegionVocabulary,
    infer_body_region,
)
from resources.curation.data_files import MappingFileError
from resources.curation.device_names import DeviceNameMapper
from resources.curation.exam_names import ExamNameMapper
from resources.curation.quality import QualityRules, instance_flags
from resources.curation.units import as_float, dose_to_mgy, exposure_mas

CORPUS = Path(__file__).resolve().parents[2] / "resources" / "corpus"
# The corpus names examinations after the DRL categories with two short forms of its own.
CORPUS_EXAM_SYNONYMS = {"CTPA": "CT Pulmonary angiogram", "CT Chest HR": "CT Chest high-resolution"}


def _corpus_protocols() -> list[dict[str, object]]:
    data = yaml.safe_load((CORPUS / "protocols.yaml").read_text())
    return [*data["ct"], *data["mg"]]


@pytest.mark.parametrize(
    ("body_part", "texts", "expected"),
    [
        ("HEAD", ["CT CHEST ABDO PELVIS"], "chest_abdomen_pelvis"),
        ("CHEST", ["AP + C"], "abdomen_and_pelvis"),
        ("ABDOMEN", ["KUB STONE"], "abdomen_and_pelvis"),
        ("HEAD", ["PE STUDY"], "chest"),
        (None, ["CT C/A/P"], "chest_abdomen_pelvis"),
        ("CSPINE", ["C SPINE TRAUMA"], "cervical_spine"),
        ("BREAST", ["MAMMO SCREENING"], "breast"),
    ],
)
def test_description_evidence_beats_body_part_examined(
    body_part: str | None, texts: list[str], expected: str
) -> None:
    result = infer_body_region(body_part, texts)
    assert result is not None
    assert result.name == expected
    assert any(item.startswith("description") for item in result.evidence)


def test_body_part_alone_gives_low_confidence_and_a_conflict_lowers_it() -> None:
    alone = infer_body_region("CHEST")
    assert alone is not None and alone.name == "chest" and alone.confidence == CONFIDENCE_BODY_PART
    agree = infer_body_region("CHEST", ["CT THORAX"])
    conflict = infer_body_region("HEAD", ["CT THORAX"])
    assert agree is not None and conflict is not None
    assert agree.confidence > conflict.confidence > alone.confidence
    assert "body_part_examined contradicts descriptions" in conflict.evidence


def test_sr_target_region_code_is_used_with_its_scheme() -> None:
    result = infer_body_region("HEAD", [], ("R-FAB57", "SRT"))
    assert result is not None and result.code == "818982008"
    assert result.evidence[0] == "sr_target_region=R-FAB57"
    assert infer_body_region(None, [], ("99999", "SCT")) is None


def test_body_region_codes_are_snomed_from_the_vocabulary_file() -> None:
    vocabulary = BodyRegionVocabulary()
    assert vocabulary.regions["chest"].code == "43799004"
    assert vocabulary.regions["head"].code == "69536005"
    assert all(region.scheme == "SCT" for region in vocabulary.regions.values())
    assert vocabulary.version.startswith("1+")


def test_every_corpus_protocol_spelling_maps_to_its_examination() -> None:
    mapper = ExamNameMapper.default()
    checked = 0
    for protocol in _corpus_protocols():
        canonical = protocol["canonical"]
        expected = CORPUS_EXAM_SYNONYMS.get(str(canonical), canonical) if canonical else None
        for raw in protocol["raw"]:  # type: ignore[attr-defined]
            assert mapper.map(raw) == expected, raw
            checked += 1
            if protocol.get("drl_category"):
                assert mapper.ndrl_category(str(expected)) == protocol["drl_category"]
    assert checked > 30


def test_exam_name_mapping_respects_modality_and_unknown_text() -> None:
    mapper = ExamNameMapper.default()
    assert mapper.map("SCREENING", "CT") is None
    assert mapper.map("SCREENING", "MG") == "Mammography screening"
    assert mapper.map("") is None and mapper.map(None) is None
    assert mapper.map_first([None, "RESEARCH PROTOCOL 7", "CT Brain"]) == "CT Head"


def test_invalid_pattern_in_a_mapping_file_names_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "exam_names.csv"
    bad.write_text("# exam_names.csv version 9\nexam_name,modality,ndrl_category,pattern\nX,CT,,(unclosed\n")
    with pytest.raises(MappingFileError, match="row 2"):
        ExamNameMapper(bad)


def test_every_corpus_institution_and_station_spelling_maps_to_its_canonical_name() -> None:
    devices = yaml.safe_load((CORPUS / "devices.yaml").read_text())
    mapper = DeviceNameMapper.default()
    for institution in devices["institutions"]:
        for raw in institution["raw"]:
            match = mapper.institution(raw)
            assert match is not None and match.mapped and match.canonical == institution["canonical"], raw
    for device in [*devices["ct"], *devices["mg"]]:
        for raw in device["station_raw"]:
            match = mapper.station(raw, device["manufacturer_raw"][0])
            assert match is not None and match.mapped and match.canonical == device["station_canonical"], raw
    unknown = mapper.station("XR_ROOM_07")
    assert unknown is not None and not unknown.mapped and unknown.canonical == "XRROOM7"


def test_units_and_ages() -> None:
    assert dose_to_mgy(0.142, "dGy") == pytest.approx(14.2)
    with pytest.raises(ValueError, match="unknown dose unit"):
        dose_to_mgy(1.0, "rad")
    assert exposure_mas(None, 2500, None, None) == pytest.approx(2.5)
    assert exposure_mas(None, None, 200, 500) == pytest.approx(100.0)
    assert as_float("10.50/ 15.00") is None and as_float("5.30") == pytest.approx(5.3)
    assert patient_age("006M", None, None) == (0.5, "patient_age")
    age, source = patient_age(None, dt.date(2000, 3, 1), dt.date(2026, 3, 1))
    assert source == "dates" and age == pytest.approx(26.0, abs=0.01)
    assert [age_band(a) for a in (0.3, 3, 12, 16, 45, 95, -1)] == [
        "0",
        "1-4",
        "10-14",
        "15-17",
        "40-49",
        "90+",
        None,
    ]


def test_quality_rules_name_the_rule_and_the_value() -> None:
    rules = QualityRules(today=dt.date(2026, 11, 20), ctdivol_ceiling_mgy=100)
    record = {
        "modality": "CT",
        "patient_age_years": 130.0,
        "ctdivol_mgy": 0.0,
        "compression_force_n": None,
        "study_date": dt.date(2026, 12, 1),
        "study_datetime": dt.datetime(2026, 12, 1, 10, 0),
        "acquisition_datetime": dt.datetime(2026, 12, 1, 9, 0),
        "image_type": "ORIGINAL\\PRIMARY\\AXIAL",
        "present_tags": {"StudyDate", "KVP", "CTDIvol", "Manufacturer", "ManufacturerModelName"},
        "unparseable": ["SpiralPitchFactor"],
    }
    flags = {(f.rule, f.field_name, f.value) for f in instance_flags(record, rules)}
    assert flags == {
        ("age_out_of_range", "patient_age_years", "130"),
        ("ctdivol_not_positive", "ctdivol_mgy", "0"),
        ("study_date_in_future", "study_date", "2026-12-01"),
        ("acquisition_before_study_start", "acquisition_datetime", "2026-12-01T09:00:00"),
        ("unparseable_value", "SpiralPitchFactor", None),
        ("missing_required_tag", "SliceThickness", "CT"),
    }
    high = {
        f.rule for f in instance_flags({**record, "ctdivol_mgy": 150.0, "patient_age_years": 40.0}, rules)
    }
    assert "ctdivol_above_ceiling" in high and "age_out_of_range" not in high
    force = {f.rule for f in instance_flags({"modality": "MG", "compression_force_n": 450.0}, rules)}
    assert "compression_force_out_of_range" in force
