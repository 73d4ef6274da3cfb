"""Activity and device map on a generated site, both back ends: counts against the corpus manifest's
true answers (source dates, stations, dose SRs), dose quantiles against pandas on the dose tables."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from resources.analytics.catalog import run_analysis
from resources.corpus import CorpusManifest
from resources.warehouse import Warehouse

Corpus = tuple[Path, CorpusManifest]


def _week(day: str) -> str:
    date = dt.date.fromisoformat(day)
    return (date - dt.timedelta(days=date.weekday())).isoformat()


def test_studies_per_source_day_week_and_month(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    analysis = run_analysis("activity", site_warehouse.engine)
    assert int(analysis.tables["totals"]["studies"].iloc[0]) == len(manifest.studies)
    per_day = analysis.tables["per_day"].groupby(["day", "modality"])["studies"].sum().to_dict()
    assert per_day == dict(Counter((s["study_date"], s["modality"]) for s in manifest.studies))
    per_week = analysis.tables["per_week"].groupby(["week", "modality"])["studies"].sum().to_dict()
    assert per_week == dict(Counter((_week(s["study_date"]), s["modality"]) for s in manifest.studies))
    per_month = analysis.tables["per_month"].set_index(["month", "modality"])["studies"].to_dict()
    assert per_month == dict(Counter((s["study_date"][:7], s["modality"]) for s in manifest.studies))
    true_instances = sum(
        series["n_instances"] for s in manifest.studies for series in s["series"] if series["kind"] != "rdsr"
    )
    assert int(analysis.tables["per_day"]["instances"].sum()) == true_instances


def test_hour_of_week_uses_the_source_weekday(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    analysis = run_analysis("activity", site_warehouse.engine)
    frame = analysis.tables["hour_of_week"]
    got = frame.set_index(["modality", "weekday", "hour"])["studies"].to_dict()
    expected = Counter(
        (s["modality"], dt.date.fromisoformat(s["study_date"]).weekday(), int(s["study_time"][:2]))
        for s in manifest.studies
    )
    assert got == dict(expected)
    assert set(analysis.figures) == {"hour_of_week", "weekly_trend"}
    assert all(png.startswith(b"\x89PNG") for png in analysis.figures.values())


def test_period_bounds_are_inclusive_source_dates(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    dates = sorted({s["study_date"] for s in manifest.studies})
    start, end = dt.date.fromisoformat(dates[2]), dt.date.fromisoformat(dates[-3])
    analysis = run_analysis("activity", site_warehouse.engine, start=start, end=end)
    inside = [s for s in manifest.studies if start.isoformat() <= s["study_date"] <= end.isoformat()]
    assert 0 < len(inside) < len(manifest.studies)
    assert int(analysis.tables["totals"]["studies"].iloc[0]) == len(inside)
    assert set(analysis.tables["per_day"]["day"]) == {s["study_date"] for s in inside}


def test_device_map_merges_spellings_and_matches_the_corpus(
    site_warehouse: Warehouse, corpus: Corpus
) -> None:
    _, manifest = corpus
    devices = run_analysis("device_map", site_warehouse.engine).tables["devices"].set_index("station")
    by_station: dict[str, list[dict]] = {}
    for study in manifest.studies:
        by_station.setdefault(study["device"]["station_name_canonical"], []).append(study)
    assert set(devices.index) == set(by_station)  # one row per scanner, whatever the spelling
    for station, studies in by_station.items():
        row = devices.loc[station]
        assert row["studies"] == len(studies)
        assert row["first_seen"] == min(s["study_date"] for s in studies)
        assert row["last_seen"] == max(s["study_date"] for s in studies)
        assert row["manufacturer_spellings"] == len({s["device"]["manufacturer"] for s in studies})
        assert row["model_name"] == studies[0]["device"]["model"]
        with_rdsr = sum(1 for s in studies if s["has_rdsr"])
        assert row["studies_with_dose_report"] == with_rdsr
        assert row["share_with_dose_report"] == pytest.approx(with_rdsr / len(studies), abs=1e-4)


def test_software_versions_per_device(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    software = run_analysis("device_map", site_warehouse.engine).tables["software_versions"]
    got = {(r.station, r.software_versions) for r in software.itertuples()}
    expected = {
        (s["device"]["station_name_canonical"], s["device"]["software_version"]) for s in manifest.studies
    }
    assert got == expected


def test_dlp_quantiles_per_device_match_pandas(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    station_of = {s["study_uid"]: s["device"]["station_name_canonical"] for s in manifest.studies}
    doses = site_warehouse.read_frame("SELECT study_instance_uid, dlp_total_mgycm FROM study_dose")
    doses["station"] = doses["study_instance_uid"].map(station_of)
    expected = doses.dropna(subset=["dlp_total_mgycm"]).groupby("station")["dlp_total_mgycm"]
    got = run_analysis("device_map", site_warehouse.engine).tables["ct_dlp_per_device"].set_index("station")
    assert set(got.index) == set(expected.groups)
    for station, values in expected:
        row = got.loc[station]
        assert row["n"] == len(values)
        for label, q in (("p25", 0.25), ("median", 0.5), ("p75", 0.75)):
            assert row[label] == pytest.approx(values.quantile(q), rel=1e-9), (station, label)
        assert row["max"] == pytest.approx(values.max())


def test_mg_organ_dose_per_device_matches_the_corpus(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    truth = pd.DataFrame(
        [
            {"station": s["device"]["station_name_canonical"], "dose": v["organ_dose_dgy"] * 100.0}
            for s in manifest.studies
            for v in s["mammo_views"]
        ]
    )
    got = (
        run_analysis("device_map", site_warehouse.engine)
        .tables["mg_organ_dose_per_device"]
        .set_index("station")
    )
    for station, values in truth.groupby("station")["dose"]:
        assert got.loc[station, "n"] == len(values)
        assert got.loc[station, "median"] == pytest.approx(values.median(), rel=1e-6)
