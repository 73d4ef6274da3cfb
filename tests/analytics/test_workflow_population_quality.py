"""Workflow timing, population and data quality on a generated site, both back ends: against the corpus
manifest (view times, ages, sexes, planted wrong Body Part Examined values) or pandas on the rows."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from resources.analytics.catalog import run_analysis
from resources.corpus import CorpusManifest
from resources.curation.ages import age_band
from resources.curation.body_region import BodyRegionVocabulary
from resources.warehouse import Warehouse

Corpus = tuple[Path, CorpusManifest]
# The corpus's region keys in the warehouse vocabulary (KUB is scanned as abdomen and pelvis).
CORPUS_REGIONS = {"abdomen_pelvis": "abdomen_and_pelvis", "kub": "abdomen_and_pelvis"}


def _quantiles_match(row: pd.Series, values: pd.Series) -> None:
    assert row["n"] == len(values)
    for label, q in (("min", 0.0), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("max", 1.0)):
        # SQLite date-times differ to the millisecond
        assert row[label] == pytest.approx(values.quantile(q), rel=1e-6, abs=1e-3), label


def test_screening_visit_length_is_first_to_last_view(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    truth = pd.DataFrame(
        [
            {
                "station": s["device"]["station_name_canonical"],
                "minutes": (
                    max(dt.datetime.fromisoformat(v["acquired"]) for v in s["mammo_views"])
                    - min(dt.datetime.fromisoformat(v["acquired"]) for v in s["mammo_views"])
                ).total_seconds()
                / 60.0,
            }
            for s in manifest.studies
            if s["protocol"]["canonical_exam"] == "Mammography screening"
        ]
    )
    assert not truth.empty
    got = (
        run_analysis("workflow_timing", site_warehouse.engine).tables["screening_visits"].set_index("station")
    )
    for station, minutes in truth.groupby("station")["minutes"]:
        _quantiles_match(got.loc[station], minutes)


def test_exam_durations_and_gaps_match_pandas_on_the_instances(
    site_warehouse: Warehouse, corpus: Corpus
) -> None:
    _, manifest = corpus
    station_of = {s["study_uid"]: s["device"]["station_name_canonical"] for s in manifest.studies}
    rows = site_warehouse.read_frame(
        "SELECT study_instance_uid, series_instance_uid, modality, acquisition_datetime FROM instance "
        "WHERE acquisition_datetime IS NOT NULL AND modality <> 'SR'"
    )
    rows["acquired"] = pd.to_datetime(rows["acquisition_datetime"], format="ISO8601")
    rows["station"] = rows["study_instance_uid"].map(station_of)
    spans = rows.groupby(["study_instance_uid", "modality", "station"])["acquired"].agg(["min", "max"])
    spans["minutes"] = (spans["max"] - spans["min"]).dt.total_seconds() / 60.0
    analysis = run_analysis("workflow_timing", site_warehouse.engine)
    durations = analysis.tables["exam_duration_per_device"].set_index(["modality", "station"])
    for key, minutes in spans.reset_index().groupby(["modality", "station"])["minutes"]:
        _quantiles_match(durations.loc[key], minutes)
    ordered = rows.sort_values(["series_instance_uid", "acquired"])
    ordered["gap"] = ordered.groupby("series_instance_uid")["acquired"].diff().dt.total_seconds()
    gaps = analysis.tables["image_gaps"].set_index(["modality", "station"])
    for key, values in ordered.dropna(subset=["gap"]).groupby(["modality", "station"])["gap"]:
        _quantiles_match(gaps.loc[key], values)


def test_throughput_per_device_and_hour(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    frame = run_analysis("workflow_timing", site_warehouse.engine).tables["throughput"]
    got = frame.set_index(["station", "hour"])["studies"].to_dict()
    expected = Counter(
        (s["device"]["station_name_canonical"], int(s["study_time"][:2])) for s in manifest.studies
    )
    assert got == dict(expected)
    days = {
        station: len(
            {s["study_date"] for s in manifest.studies if s["device"]["station_name_canonical"] == station}
        )
        for station, _ in expected
    }
    for row in frame.itertuples():
        assert row.mean_studies_per_hour == pytest.approx(row.studies / days[row.station], abs=1e-3)


def test_age_band_and_sex_per_modality(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    sex_of = {p["patient_id"]: p["sex"] for p in manifest.patients}
    analysis = run_analysis("population", site_warehouse.engine)
    got = analysis.tables["demographics"].groupby(["modality", "age_band", "sex"])["studies"].sum().to_dict()
    expected = Counter(
        # A study without Patient's Age still has one: curation computes it from the (shifted) dates.
        (s["modality"], age_band(s["age_years"]), sex_of[s["patient_id"]])
        for s in manifest.studies
    )
    assert got == dict(expected)
    share = analysis.tables["paediatric_share"].set_index("modality")
    for modality in ("CT", "MG"):
        mine = [s for s in manifest.studies if s["modality"] == modality]
        assert share.loc[modality, "paediatric_studies"] == sum(1 for s in mine if not s["adult"])
    assert share.loc["CT", "paediatric_studies"] > 0


def test_dose_by_age_band_matches_pandas(site_warehouse: Warehouse) -> None:
    doses = site_warehouse.read_frame("SELECT patient_age_years, dlp_total_mgycm FROM study_dose")
    doses["band"] = doses["patient_age_years"].map(lambda a: age_band(a) if pd.notna(a) else "(unknown)")
    got = run_analysis("population", site_warehouse.engine).tables["ct_dlp_by_age_band"].set_index("age_band")
    for band, values in doses.dropna(subset=["dlp_total_mgycm"]).groupby("band")["dlp_total_mgycm"]:
        _quantiles_match(got.loc[band], values)
    effective = run_analysis("population", site_warehouse.engine).tables["effective_dose_by_age_band"]
    assert effective["n"].sum() == int(
        site_warehouse.read_frame(
            "SELECT count(*) AS n FROM study_effective_dose WHERE effective_dose_msv IS NOT NULL"
        )["n"].iloc[0]
    )


def test_body_part_disagreement_finds_the_planted_wrong_values(
    site_warehouse: Warehouse, corpus: Corpus
) -> None:
    _, manifest = corpus
    frame = (
        run_analysis("data_quality", site_warehouse.engine)
        .tables["body_part_disagreement"]
        .set_index("station")
    )
    vocabulary = BodyRegionVocabulary()
    expected: dict[str, Counter[str]] = {}
    for study in manifest.studies:
        station = study["device"]["station_name_canonical"]
        n = sum(1 for s in study["series"] if s["kind"] != "rdsr")
        written = vocabulary.from_body_part(study["body_part_examined"]["written"])
        true = vocabulary.regions[CORPUS_REGIONS.get(study["true_body_region"], study["true_body_region"])]
        assert written is not None
        if written.name == true.name or true.name in written.includes:
            verdict = "agrees"
        else:
            verdict = "narrower" if written.name in true.includes else "disagrees"
        assert verdict != "disagrees" or study["body_part_examined"]["wrong"], study["study_uid"]
        expected.setdefault(station, Counter())[verdict] += n
    assert sum(c["disagrees"] for c in expected.values()) > 0
    assert sum(c["narrower"] for c in expected.values()) > 0
    for station, counts in expected.items():
        for verdict in ("agrees", "narrower", "disagrees"):
            assert frame.loc[station, verdict] == counts[verdict], (station, verdict)
        assert frame.loc[station, "series_with_body_part"] == sum(counts.values())


def test_completeness_per_device_matches_a_count_of_the_rows(site_warehouse: Warehouse) -> None:
    rows = site_warehouse.read_frame(
        "SELECT d.station_canonical AS station, d.manufacturer, c.ctdivol_mgy FROM ct_acquisition c "
        "JOIN series s ON s.series_instance_uid = c.series_instance_uid "
        "JOIN device d ON d.device_key = s.device_key AND d.partition_key = s.partition_key"
    )
    expected = rows.groupby(["station", "manufacturer"])["ctdivol_mgy"].agg(["size", "count"])
    frame = run_analysis("data_quality", site_warehouse.engine).tables["completeness_per_device"]
    mine = frame[frame["attribute"] == "ct_acquisition.ctdivol_mgy"].set_index(["station", "manufacturer"])
    assert len(mine) == len(expected)
    for key, row in expected.iterrows():
        assert (mine.loc[key, "rows"], mine.loc[key, "filled"]) == (row["size"], row["count"])
    assert 0 < mine["filled"].sum() < mine["rows"].sum()  # localisers carry no CTDIvol


def test_unmapped_names_per_source_month(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    frame = run_analysis("data_quality", site_warehouse.engine).tables["unmapped_names_per_month"]
    exams = frame[frame["kind"] == "exam_name"].set_index("month")["occurrences"].to_dict()
    unmapped = [s for s in manifest.studies if not s["protocol"]["canonical_exam"]]
    assert unmapped
    months = Counter(s["study_date"][:7] for s in unmapped)
    assert set(exams) == set(months)
    for month, studies in months.items():
        assert exams[month] >= studies  # one name per unmapped image series, at least one per study
