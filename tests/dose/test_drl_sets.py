"""The shipped DRL sets: every one names its source; sets without verified values are templates that
refuse to load and say why; the filled European and US sets load with the values of their cited
source; banded (paediatric) and DAP levels; canonical labels counted per device."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.dose.drl import DRL_DIR, AuditStudy, audit, available_sets, load_drl_csv, load_drl_set
from resources.dose.errors import FactorSetError

TEMPLATES = {"spain_2025", "uk_projection_2024"}
# Sets whose numbers were read from a transcription of the primary document: the header names the
# repository, file and commit where they were read.
TRANSCRIBED = {"eu_rp195_euclid_2021", "eu_rp185_paediatric_2018", "us_acr_dir"}
DRL_APP_COMMIT = "66d09edd9b0d5550817bc07c87c11066ab061c13"


def test_every_set_has_a_source_and_templates_say_they_are_templates() -> None:
    assert set(available_sets()) >= TEMPLATES | TRANSCRIBED | {"uk_2022", "ireland_2012"}
    for name in available_sets():
        header = (DRL_DIR / f"{name}.csv").read_text()
        assert "# source:" in header and "# edition:" in header, name
        if name in TEMPLATES:
            assert "# template: true" in header and "Why a template" in header
            with pytest.raises(FactorSetError, match="template without published values"):
                load_drl_set(name)
        else:
            assert "# template: true" not in header, name
            drl = load_drl_set(name)
            assert (drl.levels or drl.bands) and drl.source


@pytest.mark.parametrize("name", sorted(TRANSCRIBED))
def test_transcribed_sets_say_where_each_number_was_read(name: str) -> None:
    header = (DRL_DIR / f"{name}.csv").read_text()
    assert "github.com/nathanwangai/drl_app" in header and DRL_APP_COMMIT in header
    assert "Verify against" in header
    drl = load_drl_set(name)
    rows = list(drl.levels.values()) + [b for bands in drl.bands.values() for b in bands]
    assert rows and all(r.dlp_mgycm is not None for r in rows)  # every row filled, none left blank
    assert f"drl_app@{DRL_APP_COMMIT[:7]}" in drl.source  # the per-row source names the transcription


def test_euclid_clinical_drls_match_rp195() -> None:
    # EC RP 195 (EUCLID) CT table, as transcribed in nathanwangai/drl_app drls/europe_clinical_drls.csv.
    euclid = load_drl_set("eu_rp195_euclid_2021")
    assert len(euclid.levels) == 10 and not euclid.bands
    expected = {
        "stroke": (48, 807),
        "sinusitis": (11, 188),
        "cervical_spine_trauma": (17, 455),
        "coronary_calcium": (4, 72),
        "coronary_cta": (25, 415),
        "appendicitis": (9, 498),
    }
    for category, (ctdivol, dlp) in expected.items():
        level = euclid.levels[category]
        assert (level.ctdivol_mgy, level.dlp_mgycm) == (ctdivol, dlp), category
    assert "RP 195" in euclid.source and euclid.edition == "2021"


def test_rp185_paediatric_bands_match_the_source() -> None:
    # EC RP 185 CT table (head by age, body by weight), as transcribed in nathanwangai/drl_app
    # drls/europe_pediatric_drls.csv.
    rp185 = load_drl_set("eu_rp185_paediatric_2018")
    assert not rp185.levels and set(rp185.bands) == {"head", "chest", "abdomen_pelvis"}
    assert [len(rp185.bands[c]) for c in ("head", "chest", "abdomen_pelvis")] == [4, 5, 5]
    newborn = rp185.level_for("head", age_years=0.1)
    assert newborn is not None and newborn.examination == "Head 0 to <3 months"
    assert (newborn.ctdivol_mgy, newborn.dlp_mgycm) == (24, 300)
    assert rp185.level_for("head", age_years=3.0).dlp_mgycm == 505  # type: ignore[union-attr]
    assert rp185.level_for("head", age_years=10.0).ctdivol_mgy == 50  # type: ignore[union-attr]
    assert rp185.level_for("head", age_years=40.0) is None  # an adult is in no paediatric band
    assert rp185.level_for("head", age_years=None) is None  # an unknown age is in no band
    chest = rp185.level_for("chest", age_years=8.0, weight_kg=20.0)
    assert chest is not None and (chest.ctdivol_mgy, chest.dlp_mgycm) == (2.7, 70)
    assert rp185.level_for("chest", age_years=8.0, weight_kg=None) is None  # no weight, no weight band
    smallest = rp185.level_for("abdomen_pelvis", age_years=0.1, weight_kg=3.0)
    assert smallest is not None and smallest.ctdivol_mgy is None and smallest.dlp_mgycm == 45
    assert rp185.level_for("abdomen_pelvis", 12.0, 60.0).dlp_mgycm == 480  # type: ignore[union-attr]
    # The body bands are paediatric: an adult of a band's weight is in none of them (dicom-lake's limit).
    assert rp185.level_for("abdomen_pelvis", age_years=40.0, weight_kg=60.0) is None


def test_rp185_audit_groups_by_band() -> None:
    rp185 = load_drl_set("eu_rp185_paediatric_2018")
    studies = [
        AuditStudy("a", "CT1", "2026-03-02", "head", "x", 42.0, 520.0, age_years=3.0),
        AuditStudy("b", "CT1", "2026-03-03", "head", "x", 30.0, 400.0, age_years=4.5),
        AuditStudy("c", "CT1", "2026-03-03", "chest", "x", 2.0, 80.0, age_years=8.0),  # weight unknown
    ]
    result = audit(studies, rp185, "month")
    [group] = result.groups
    assert group.category == "head:Head 1 to <6 years" and group.n_studies == 2
    assert (group.drl_ctdivol_mgy, group.drl_dlp_mgycm) == (40, 505)
    assert group.median_dlp_mgycm == 460.0 and group.median_dlp_exceeds is False
    assert group.exceeding_study_uids == ("a",)  # 42 mGy > 40 mGy and 520 > 505 mGy cm
    assert result.categories_without_level == {"chest": 1}


def test_us_adult_levels_match_the_acr_practice_parameter() -> None:
    # ACR-AAPM-SPR practice parameter adult CT table, as transcribed in nathanwangai/drl_app
    # drls/us_adult_drls.csv.
    us = load_drl_set("us_acr_dir")
    expected = {
        "head": (56, 962),
        "chest": (12, 443),
        "ctpa": (14, 445),
        "abdomen_pelvis": (15, 755),
        "kub": (16, 781),
        "chest_abdomen_pelvis": (15, 947),
    }
    for category, (ctdivol, dlp) in expected.items():
        level = us.levels[category]
        assert (level.ctdivol_mgy, level.dlp_mgycm) == (ctdivol, dlp), category
    assert "ACR-AAPM-SPR" in us.source and us.edition


def test_projection_dap_levels_load(tmp_path: Path) -> None:
    path = tmp_path / "dap.csv"
    path.write_text("category,ctdivol_mgy,dlp_mgycm,dap_gycm2\nxr_chest_pa,,,0.1\n")
    assert load_drl_csv(path).levels["xr_chest_pa"].dap_gycm2 == 0.1


def test_labels_of_one_device_are_counted() -> None:
    uk = load_drl_set("uk_2022")
    studies = [
        AuditStudy(str(i), "CT2", "2026-03-02", "head", "x", 40.0, 700.0, device_label=label)
        for i, label in enumerate(
            ["SIEMENS Definition AS+", "Siemens Healthineers Definition AS+", "SIEMENS Definition AS+"]
        )
    ]
    [group] = audit(studies, uk, "month").groups
    assert (group.device, group.n_studies, group.device_labels) == ("CT2", 3, 2)
