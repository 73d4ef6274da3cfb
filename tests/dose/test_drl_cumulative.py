"""DRL sets, the local CSV loader, the exam-name mapping, medians per device and period; cumulative dose."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resources.dose.cumulative import PatientStudyDose, cumulative_doses
from resources.dose.drl import AuditStudy, DrlMapping, audit, load_drl_csv, load_drl_set, medians_markdown
from resources.dose.errors import FactorSetError


def test_national_sets_carry_their_source() -> None:
    uk = load_drl_set("uk_2022")
    assert uk.levels["head"].dlp_mgycm == 790 and uk.levels["head"].ctdivol_mgy == 47
    assert uk.levels["chest_abdomen_pelvis"].ctdivol_mgy is None  # no CTDIvol DRL for CAP
    assert "UKHSA" in uk.source and uk.edition.startswith("2022")
    ireland = load_drl_set("ireland_2012")
    assert ireland.levels["head"].dlp_mgycm == 940 and "Foley" in ireland.source
    with pytest.raises(FactorSetError, match=r"available: .*ireland_2012.*uk_2022"):
        load_drl_set("mars_2099")


def test_local_drls_from_a_site_csv(tmp_path: Path) -> None:
    path = tmp_path / "local.csv"
    path.write_text("# our 2025 room medians\ncategory,ctdivol_mgy,dlp_mgycm\nhead,40,700\nchest,,250\n")
    local = load_drl_csv(path, "local")
    assert local.name == "local" and local.levels["chest"].ctdivol_mgy is None
    assert local.levels["head"].dlp_mgycm == 700
    path.write_text("category,ctdivol_mgy,dlp_mgycm\nhead,forty,700\n")
    with pytest.raises(FactorSetError, match=r"local\.csv data row 1"):
        load_drl_csv(path)


def test_mapping_normalises_names_and_prefers_canonical(tmp_path: Path) -> None:
    mapping = DrlMapping.load()
    assert mapping.category_for("CT Head") == "head"
    assert mapping.category_for("  ct   HEAD w/o ") == "head"
    assert mapping.category_for(None, "unknown thing", "CTPA") == "ctpa"
    assert mapping.category_for("Service QA") is None
    edited = tmp_path / "mapping.csv"
    edited.write_text("name,category\nService QA,chest\n")
    assert DrlMapping.load(edited).category_for("SERVICE-QA") == "chest"


def study(uid: str, device: str, date: str, category: str | None, ctdi: float, dlp: float) -> AuditStudy:
    return AuditStudy(uid, device, date, category, "x" if category else "odd exam", ctdi, dlp)


def test_medians_per_category_device_and_period_with_exceeding_exams() -> None:
    uk = load_drl_set("uk_2022")
    studies = [
        study("a", "CT1", "2026-01-03", "head", 40, 700),
        study("b", "CT1", "2026-01-09", "head", 50, 800),  # above both DRLs
        study("c", "CT1", "2026-01-20", "head", 44, 760),
        study("d", "CT2", "2026-01-04", "head", 60, 900),
        study("e", "CT1", "2026-02-01", "head", 30, 500),
        study("f", "CT1", "2026-01-05", None, 10, 100),
        study("g", "CT1", "2026-01-05", "multiphase_abdomen", 10, 100),  # not in the UK set
    ]
    result = audit(studies, uk, "month")
    groups = {(g.device, g.period): g for g in result.groups}
    january = groups[("CT1", "2026-01")]
    assert (january.n_studies, january.median_ctdivol_mgy, january.median_dlp_mgycm) == (3, 44, 760)
    assert january.median_dlp_exceeds is False and january.exceeding_study_uids == ("b",)
    assert groups[("CT2", "2026-01")].median_dlp_exceeds is True
    assert groups[("CT1", "2026-02")].n_studies == 1
    assert result.unmapped_names == {"odd exam": 1}
    assert result.categories_without_level == {"multiphase_abdomen": 1}
    weekly = {(g.device, g.period): g.n_studies for g in audit(studies, uk, "week").groups}
    # ISO weeks: 3 Jan 2026 is a Saturday of week 1, 4 Jan its Sunday, 1 Feb the Sunday of week 5.
    assert weekly == {
        ("CT1", "2026-W01"): 1,
        ("CT1", "2026-W02"): 1,
        ("CT1", "2026-W04"): 1,
        ("CT1", "2026-W05"): 1,
        ("CT2", "2026-W01"): 1,
    }
    quarterly = audit(studies, uk, "quarter")
    assert {(g.device, g.period, g.n_studies) for g in quarterly.groups} == {
        ("CT1", "2026-Q1", 4),
        ("CT2", "2026-Q1", 1),
    }
    table = medians_markdown(result)
    assert "| Head (acute stroke) | CT2 | 2026-01 | 1 | **60.0** | 47.0 | **900.0** | 790.0 |" in table


def test_cumulative_rolling_windows_and_alert() -> None:
    d = dt.date
    studies = [
        PatientStudyDose("P1", "s1", d(2020, 1, 10), 30.0),
        PatientStudyDose("P1", "s2", d(2020, 6, 1), 40.0),
        PatientStudyDose("P1", "s3", d(2021, 1, 10), 35.0),  # 1-year window (2020-01-10, 2021-01-10]: 75
        PatientStudyDose("P1", "s3", d(2021, 1, 10), 35.0),  # same study twice: counted once
        PatientStudyDose("P1", "s4", d(2024, 3, 1), None),  # no effective dose: counted, not summed
        PatientStudyDose("P2", "t1", d(2022, 5, 5), 5.0),
    ]
    results = {(c.patient_pseudonym, c.window_years): c for c in cumulative_doses(studies, (1, 5), 100.0)}
    one = results[("P1", 1)]
    assert one.max_rolling_msv == pytest.approx(75.0) and one.max_window_end == d(2021, 1, 10)
    assert one.alert is False and one.n_studies == 4 and one.studies_without_dose == 1
    five = results[("P1", 5)]
    assert five.max_rolling_msv == pytest.approx(105.0) and five.alert is True
    assert five.current_msv == pytest.approx(105.0)  # (2019-03-01, 2024-03-01] holds every study
    assert one.current_msv == 0.0  # (2023-03-01, 2024-03-01] holds only s4, which has no number
    assert results[("P2", 5)].max_rolling_msv == pytest.approx(5.0)


def test_nearest_threshold_table_ranks_patients_by_their_share_of_the_threshold() -> None:
    from resources.dose.report_markdown import MAX_ROWS, nearest_threshold_markdown

    day = dt.date(2026, 1, 1)
    rows = cumulative_doses(
        [PatientStudyDose(f"P{i:02d}", f"u{i}", day, float(i)) for i in range(MAX_ROWS + 5)],
        windows_years=(1,),
        threshold_msv=20.0,
    )
    table = nearest_threshold_markdown(rows).splitlines()
    assert table[2].startswith(f"| P{MAX_ROWS + 4:02d} | 1 | {MAX_ROWS + 4:.1f} | 20 | ")
    assert "**yes**" in table[2] and table[-1].startswith("... and 5 more")
    assert nearest_threshold_markdown([]) == "_no patient with an effective dose_"
