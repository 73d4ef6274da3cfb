"""Per-set category mappings: EUCLID (RP 195) audits studies by clinical indication where dicom-lake's
body-region categories or exam names say the indication unambiguously, and counts the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.dose.drl import AuditStudy, audit, load_drl_set, medians_markdown
from resources.dose.drl_set_mapping import SetCategoryMapping, set_mapping_path
from resources.dose.errors import FactorSetError

EUCLID = "eu_rp195_euclid_2021"


def _study(uid: str, category: str | None, exam_name: str | None, dlp: float) -> AuditStudy:
    return AuditStudy(uid, "CT1", "2026-03-02", category, exam_name, 8.0, dlp)


def test_euclid_loads_with_its_mapping_and_the_national_sets_without() -> None:
    euclid = load_drl_set(EUCLID)
    assert euclid.category_mapping is not None and "RP 195" in euclid.category_mapping.source
    assert set(euclid.category_mapping.by_category.values()) <= euclid.categories()
    assert euclid.category_mapping.by_category == {
        "ctpa": "pulmonary_embolism",
        "kub": "colic_abdominal_pain",
    }
    assert load_drl_set("uk_2022").category_mapping is None
    assert load_drl_set("eu_rp185_paediatric_2018").category_mapping is None


def test_euclid_audit_places_unambiguous_studies_and_counts_the_rest() -> None:
    euclid = load_drl_set(EUCLID)
    studies = [
        _study("pe1", "ctpa", "CT Pulmonary angiogram", 250.0),
        _study("pe2", "ctpa", "CT Pulmonary angiogram", 350.0),
        _study("k1", "kub", "CT KUB", 200.0),
        _study("c1", None, "ct calcium score", 90.0),  # no national category; the name says it
        _study("h1", "head", "CT Head", 900.0),  # stroke or trauma? not said
        _study("h2", "head", "CT Head", 700.0),
        _study("x1", None, "knee", 50.0),
    ]
    result = audit(studies, euclid, "month")
    groups = {g.category: g for g in result.groups}
    assert set(groups) == {"pulmonary_embolism", "colic_abdominal_pain", "coronary_calcium"}
    pe = groups["pulmonary_embolism"]
    assert (pe.n_studies, pe.median_dlp_mgycm, pe.drl_dlp_mgycm, pe.exceeding_study_uids) == (
        2,
        300.0,
        307,
        ("pe2",),
    )
    assert groups["coronary_calcium"].exceeding_study_uids == ("c1",)  # 90 > 72 mGy cm
    assert result.not_in_set_mapping == {"head": 2}
    assert result.unmapped_names == {"knee": 1}
    table = medians_markdown(result)
    assert "- head: 2 studies not audited, no unambiguous category of eu_rp195_euclid_2021" in table


def test_exam_names_are_tried_before_the_category(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "# source: test mapping\nsource,name,category\ncategory,head,a\nexam_name,Head: STROKE,b\n"
    )
    mapping = SetCategoryMapping.load(path, {"a", "b"})
    assert mapping.category_of("head", "head stroke") == "b"
    assert mapping.category_of("head", "CT Head") == "a"
    assert mapping.category_of("chest", None) is None and mapping.category_of(None, None) is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("source,name,category\ncategory,ctpa,not_a_category\n", "no category 'not_a_category'"),
        ("source,name,category\nprotocol,ctpa,a\n", "source must be one of"),
        ("source,name,category\nexam_name,ct x,a\nexam_name,CT-X,b\n", "mapped to two categories"),
    ],
)
def test_malformed_mappings_are_refused(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text("# source: test\n" + rows)
    with pytest.raises(FactorSetError, match=message):
        SetCategoryMapping.load(path, {"a", "b"})


def test_a_mapping_must_say_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("source,name,category\ncategory,ctpa,a\n")
    with pytest.raises(FactorSetError, match="source"):
        SetCategoryMapping.load(path, {"a"})
    assert set_mapping_path(EUCLID).is_file()
