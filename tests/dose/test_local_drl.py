"""Local DRLs as ICRP 135 defines them: the third quartile of per-room medians, rooms with too few
studies left out; written as a DRL set the site can adopt."""

from __future__ import annotations

import statistics
from pathlib import Path

from resources.dose.audit_inputs import ReportStudy
from resources.dose.drl import load_drl_csv, load_drl_set
from resources.dose.local_drl import local_drl_csv, local_drls, third_quartile


def _study(n: int, room: str, dlp: float, date: str = "2026-03-02", category: str = "head") -> ReportStudy:
    return ReportStudy(
        study_instance_uid=f"2.25.{room}.{n}",
        source_date=date,
        device=room,
        device_label=f"{room} label",
        drl_category=category,
        exam_name=None,
        unmapped_name=None,
        patient_age_years=50.0,
        ctdivol_mgy=dlp / 20.0,
        dlp_mgycm=dlp,
    )


def _room(room: str, values: list[float], **kwargs: str) -> list[ReportStudy]:
    return [_study(i, room, v, **kwargs) for i, v in enumerate(values)]


def test_third_quartile_of_room_medians(tmp_path: Path) -> None:
    # Four rooms of 5 studies with medians 600, 700, 800, 1000; one room of 2 studies (left out).
    studies = (
        _room("CT1", [500, 550, 600, 650, 9000])  # one outlier: the median is robust to it
        + _room("CT2", [690, 695, 700, 705, 710])
        + _room("CT3", [780, 790, 800, 810, 820])
        + _room("CT4", [900, 950, 1000, 1050, 1100])
        + _room("CT5", [5000, 5000])
        + _room("CT1", [400] * 5, date="2025-06-01")  # another year
    )
    rows = {(r.period, r.quantity): r for r in local_drls(studies, "year", min_studies_per_room=5)}
    dlp = rows[("2026", "dlp_mgycm")]
    assert (dlp.n_rooms, dlp.n_rooms_below_minimum, dlp.n_studies) == (4, 1, 22)
    # Inclusive quartiles of (600, 700, 800, 1000): Q3 = 800 + 0.25 * (1000 - 800) = 850.
    assert dlp.value == 850.0 == statistics.quantiles([600, 700, 800, 1000], n=4, method="inclusive")[2]
    assert dlp.room_medians == "CT1=600; CT2=700; CT3=800; CT4=1000"
    assert rows[("2026", "ctdivol_mgy")].value == 850.0 / 20.0
    assert rows[("2025", "dlp_mgycm")].value == 400.0  # one room: its median, the typical value
    assert third_quartile([3.0]) == 3.0

    text = local_drl_csv(list(rows.values()), load_drl_set("uk_2022"), "test site")
    path = tmp_path / "local.csv"
    path.write_text(text)
    adopted = load_drl_csv(path)
    assert adopted.name == "local_icrp135" and adopted.edition == "2026"
    assert adopted.levels["head"].dlp_mgycm == 850.0 and adopted.levels["head"].ctdivol_mgy == 42.5
    assert adopted.levels["head"].examination == "Head (acute stroke)"


def test_rooms_below_the_minimum_give_no_value() -> None:
    rows = local_drls(_room("CT1", [100, 200]) + _room("CT2", [300]), "year", min_studies_per_room=20)
    assert rows and all(r.value is None and r.n_rooms == 0 and r.n_rooms_below_minimum == 2 for r in rows)
    assert local_drl_csv(rows, load_drl_set("uk_2022"), "x").count("\n") == 4  # header lines only
