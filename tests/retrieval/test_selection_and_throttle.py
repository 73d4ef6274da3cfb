"""Case selection, dose-SR classification, cohort CSV, rate limit and time windows (no network)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resources.pacs.errors import CohortFileError, OutsideAllowedWindowError
from resources.pacs.find_results import InstanceRow, SeriesRow, StudyIndex, StudyRow
from resources.pacs.selection import StudySelector, classify_series, read_cohort_csv
from resources.pacs.throttle import MoveRateLimiter, check_allowed_window, in_allowed_window
from resources.site_config import RetrievalSettings, TimeWindow
from resources.sop_classes import (
    COMPREHENSIVE_SR,
    ENHANCED_SR,
    RADIOPHARMACEUTICAL_RADIATION_DOSE_SR,
    XRAY_RADIATION_DOSE_SR,
)
from tests.dicom_builder import CT_IMAGE


def _study(
    description: str = "CT CHEST",
    modalities: tuple[str, ...] = (),
    stations: tuple[str, ...] = ("CT1",),
    series_modalities: tuple[str, ...] = ("CT", "SR"),
    study_station: str | None = None,
) -> StudyIndex:
    study = StudyRow(
        study_uid="1.2.3", study_description=description, modalities=modalities, station_name=study_station
    )
    series = [
        SeriesRow(
            series_uid=f"1.2.3.{i}", study_uid="1.2.3", modality=m, station_name=stations[i % len(stations)]
        )
        for i, m in enumerate(series_modalities)
    ]
    return StudyIndex(study=study, series=series)


def test_modalities_come_from_series_when_the_pacs_gives_no_modalities_in_study() -> None:
    selector = StudySelector(modalities=["CT"])
    assert selector.decide(_study(modalities=())).selected
    assert not selector.decide(_study(modalities=(), series_modalities=("MR",))).selected
    assert selector.decide(_study(modalities=("MR", "CT"), series_modalities=())).selected


def test_description_include_and_exclude_patterns_are_case_insensitive() -> None:
    selector = StudySelector(description_include=["chest|abdo"], description_exclude=["^research"])
    assert selector.decide(_study("CT Chest w/o")).selected
    assert not selector.decide(_study("CT HEAD")).selected
    decision = selector.decide(_study("RESEARCH chest protocol"))
    assert not decision.selected
    assert decision.reason == "description excluded by pattern 1"
    assert "chest" not in decision.reason.lower()  # reasons never echo source text


def test_station_filters_see_station_names_of_both_levels() -> None:
    include = StudySelector(station_include=["^CTROOM"])
    # StationName differs between levels: the study-level one matches although series say otherwise.
    assert include.decide(_study(stations=("SCANNER-A",), study_station="CTROOM2")).selected
    assert not include.decide(_study(stations=("SCANNER-A",))).selected
    exclude = StudySelector(station_exclude=["phantom"])
    assert not exclude.decide(_study(stations=("CT1", "PHANTOM-QA"))).selected
    assert exclude.decide(_study(stations=("CT1",))).selected


def _instances(sop_class: str | None, n: int = 1) -> list[InstanceRow]:
    return [InstanceRow(f"9.{i}", sop_class, "1.2.3.9", "1.2.3", i + 1) for i in range(n)]


@pytest.mark.parametrize(
    ("sop_class", "description", "expected"),
    [
        (XRAY_RADIATION_DOSE_SR, "anything", True),
        (RADIOPHARMACEUTICAL_RADIATION_DOSE_SR, None, True),
        (ENHANCED_SR, "Dose Info", True),
        (COMPREHENSIVE_SR, "Radiation Dose Report", True),
        (COMPREHENSIVE_SR, "Radiologist report", False),
        (ENHANCED_SR, None, True),  # no description to judge by: retrieve (SR series are tiny)
        (None, "whatever", True),  # the PACS said nothing at image level: retrieve
    ],
)
def test_dose_report_detection(sop_class: str | None, description: str | None, expected: bool) -> None:
    series = SeriesRow("1.2.3.9", "1.2.3", modality="SR", series_description=description)
    instances = _instances(sop_class) if sop_class else []
    assert classify_series(series, instances).is_dose_report is expected


def test_image_series_is_never_a_dose_report() -> None:
    series = SeriesRow("1.2.3.1", "1.2.3", modality="CT", series_description="dose modulation")
    assert not classify_series(series, _instances(CT_IMAGE, 3)).is_dose_report


def test_cohort_csv_with_header_aliases_duplicates_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text("Patient ID,Accession\nP1,A1\n\nP2,A2\nP1,A1\n", encoding="utf-8")
    assert read_cohort_csv(path, "accession_number") == ["A1", "A2"]
    assert read_cohort_csv(path, "patient_id") == ["P1", "P2"]


def test_cohort_csv_of_bare_values(tmp_path: Path) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text("A10\nA11\n", encoding="utf-8")
    assert read_cohort_csv(path, "accession_number") == ["A10", "A11"]


def test_cohort_csv_errors_name_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text("mrn,other\n1,2\n", encoding="utf-8")
    with pytest.raises(CohortFileError, match="no 'accession_number' column"):
        read_cohort_csv(path, "accession_number")
    with pytest.raises(CohortFileError, match="cannot read"):
        read_cohort_csv(tmp_path / "missing.csv", "patient_id")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_spaces_moves_evenly() -> None:
    fake = FakeClock()
    limiter = MoveRateLimiter(30, clock=fake.clock, sleep=fake.sleep)  # one move every 2 s
    for _ in range(4):
        limiter.acquire()
    assert fake.slept == [2.0, 2.0, 2.0]
    fake.now += 10  # idle time is not banked as a burst beyond one slot
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(2.0)


def test_rate_limiter_zero_means_unlimited() -> None:
    fake = FakeClock()
    limiter = MoveRateLimiter(0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):
        limiter.acquire()
    assert fake.slept == []


def test_windows_may_cross_midnight_and_parse_from_compact_form() -> None:
    settings = RetrievalSettings(allowed_windows=["20:00-06:00"])
    windows = settings.allowed_windows
    assert in_allowed_window(windows, dt.datetime(2026, 11, 9, 23, 30))
    assert in_allowed_window(windows, dt.datetime(2026, 11, 9, 5, 59))
    assert not in_allowed_window(windows, dt.datetime(2026, 11, 9, 12, 0))
    assert in_allowed_window([], dt.datetime(2026, 11, 9, 12, 0))


def test_outside_the_window_fails_fast_saying_when_it_opens() -> None:
    windows = [TimeWindow(start=dt.time(20, 0), end=dt.time(6, 0))]
    with pytest.raises(
        OutsideAllowedWindowError, match=r"20:00-06:00.*next window opens at 2026-11-09 20:00"
    ):
        check_allowed_window(windows, dt.datetime(2026, 11, 9, 12, 0))
    check_allowed_window(windows, dt.datetime(2026, 11, 9, 21, 0))
