"""The breast-screening audits on a generated site, on SQLite and PostgreSQL: counts, medians, the DRL per
band, the force range and the MGD comparison recomputed here from the corpus manifest's true values."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus
from resources.dose.mammography.audit import AuditSettings, BreastAudit, breast_audit
from resources.dose.mammography.drl_bands import drl_for_band, load_thickness_drls
from resources.dose.mammography.exposures import partition_exposures
from resources.dose.mammography.plots import agd_scatter_markdown, force_histogram_markdown
from resources.dose.mammography.qa_file import load_qa_file
from resources.warehouse import mammography_tables as tables
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from tests.warehouse.backends import BACKENDS
from tests.warehouse.backends import make_warehouse as make_warehouse  # the fixture, re-exported

EXAMPLE_QA = Path(__file__).resolve().parents[2] / "resources" / "dose" / "mammography" / "qa_example.yaml"
FORCE_RANGE = (80.0, 140.0)  # narrower than the corpus's 60-150 N, so some exposures fall outside


@pytest.fixture(scope="module")
def mg_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    folder = tmp_path_factory.mktemp("mg_site")
    manifest = generate_corpus(
        folder,
        CorpusSpec(
            seed=23, n_studies=40, header_only=True, plant_phi=False, ct_images_per_series=2, mg_fraction=0.5
        ),
    )
    return folder, manifest


def settings(drl_set: str = "uk_2022") -> AuditSettings:
    return AuditSettings(
        10, "quarter", *FORCE_RANGE, 25.0, drl_set, load_thickness_drls(drl_set), EXAMPLE_QA.name
    )


def load(warehouse: Warehouse, folder: Path, manifest: CorpusManifest) -> list[dict[str, Any]]:
    warehouse.upgrade()
    qa = load_qa_file(EXAMPLE_QA)
    written = []
    for day in sorted({s["study_date"] for s in manifest.studies}):
        files = [
            p
            for s in manifest.studies
            if s["study_date"] == day
            for p in (folder / s["folder"]).rglob("*.dcm")
        ]
        rows = partition_exposures(sorted(files), qa, 25.0).rows
        warehouse.replace_partition(Lineage(day, "test"), {tables.HeaderExposure: rows})
        written += rows
    return written


def quarter(day: str) -> str:
    return f"{day[:4]}-Q{(int(day[5:7]) + 2) // 3}"


def truth(manifest: CorpusManifest) -> list[dict[str, Any]]:
    views = []
    for study in manifest.studies:
        if study["modality"] != "MG":
            continue
        device = study["device"]
        for view in study["mammo_views"]:
            views.append(
                {
                    **view,
                    "system": f"{device['model']} / {device['station_name_canonical']}",
                    "site": device["institution_name_canonical"],
                    "period": quarter(study["study_date"]),
                    "agd_mgy": view["organ_dose_dgy"] * 100.0,
                }
            )
    return views


@pytest.fixture()
def audited(
    make_warehouse: Warehouse, mg_site: tuple[Path, CorpusManifest]
) -> tuple[BreastAudit, list, list]:
    folder, manifest = mg_site
    rows = load(make_warehouse, folder, manifest)
    return breast_audit(make_warehouse.engine, settings()), rows, truth(manifest)


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_agd_per_band_view_system_and_period_matches_the_manifest(audited: tuple) -> None:
    audit, _, views = audited
    expected: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    for v in views:
        band = int(v["body_part_thickness_mm"] // 10 * 10)
        expected[(v["view"], v["system"], v["period"], band)].append(v["agd_mgy"])
    got = {(r["view"], r["system"], r["period"], r["band_min_mm"]): r for r in audit.dose_bands}
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key]["n_exposures"] == len(values)
        assert got[key]["median_agd_mgy"] == pytest.approx(statistics.median(values))
        assert got[key]["mean_agd_mgy"] == pytest.approx(statistics.mean(values))


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_the_national_drl_is_given_per_band_and_compared(audited: tuple) -> None:
    audit, _, _ = audited
    uk = load_thickness_drls("uk_2022")
    for row in audit.dose_bands:
        assert row["drl_mgy"] == drl_for_band(uk, row["view"], row["band_min_mm"], row["band_max_mm"])
        assert row["drl_mgy"] == (2.5 if row["band_min_mm"] == 50 else None)
        if row["drl_mgy"] is not None:
            assert row["median_exceeds_drl"] == (row["median_agd_mgy"] > 2.5)


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_force_share_outside_the_range_per_site_and_system(audited: tuple) -> None:
    audit, _, views = audited
    lo, hi = FORCE_RANGE
    for kind in ("site", "system"):
        groups: dict[str, list[float]] = defaultdict(list)
        for v in views:
            groups[v[kind]].append(v["compression_force_n"])
        got = {r["group_value"]: r for r in audit.compression if r["group_kind"] == kind}
        assert set(got) == set(groups)
        for name, forces in groups.items():
            outside = sum(1 for f in forces if f < lo or f > hi)
            assert got[name]["n_exposures"] == len(forces)
            assert got[name]["n_outside_range"] == outside
            assert got[name]["share_outside_range"] == pytest.approx(outside / len(forces))
            assert got[name]["median_force_n"] == pytest.approx(statistics.median(forces))
    # The generated GE systems send contact area and pressure (kPa); the Hologic ones neither.
    pressures: dict[str, list[float]] = defaultdict(list)
    for v in views:
        if "Pristina" in v["system"]:
            area = round(9000 + 80 * v["body_part_thickness_mm"])
            pressures[v["system"]].append(round(v["compression_force_n"] / area * 1000, 2))
    for row in (r for r in audit.compression if r["group_kind"] == "system"):
        expected = pressures.get(row["group_value"])
        assert row["median_pressure_kpa"] == (
            pytest.approx(statistics.median(expected)) if expected else None
        )
    assert pressures
    operators = [r for r in audit.compression if r["group_kind"] == "operator"]
    # The corpus (like a de-identified header) carries no Operators' Name: one "not recorded" group.
    assert [r["group_value"] for r in operators] == ["not recorded"]


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_mgd_comparison_counts_per_system(audited: tuple) -> None:
    audit, rows, _ = audited
    mg = [r for r in rows if r["modality"] == "MG" and r["counted"]]
    for row in audit.comparison:
        mine = [r for r in mg if f"{r['model_name']} / {r['station_canonical']}" == row["system"]]
        assert row["n_exposures"] == len(mine)
        assert row["n_compared"] == sum(1 for r in mine if r["mgd_difference_percent"] is not None)
        assert row["n_flagged"] == sum(1 for r in mine if r["mgd_flagged"])
        assert row["qa_file"] == EXAMPLE_QA.name
    assert sum(r["n_compared"] for r in audit.comparison) > 0
    assert all(r["mgd_qa_example"] for r in mg if r["mgd_mgy"] is not None)


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_a_banded_drl_set_gives_a_drl_per_view_and_band(
    make_warehouse: Warehouse, mg_site: tuple[Path, CorpusManifest]
) -> None:
    folder, manifest = mg_site
    load(make_warehouse, folder, manifest)
    audit = breast_audit(make_warehouse.engine, settings("uganda_2023"))
    by_view_band = {(r["view"], r["band_min_mm"]): r["drl_mgy"] for r in audit.dose_bands}
    published = {
        ("CC", 30): 1.5,
        ("CC", 40): 1.78,
        ("CC", 50): 1.78,
        ("CC", 60): 2.18,
        ("CC", 70): 2.18,
        ("MLO", 30): 1.66,
        ("MLO", 40): 1.87,
        ("MLO", 50): 1.87,
        ("MLO", 60): 2.22,
        ("MLO", 70): 2.22,
    }
    assert set(by_view_band) <= set(published)
    assert len(by_view_band) >= 6
    for key, drl in by_view_band.items():
        assert drl == published[key]


def test_plots_are_png_markdown() -> None:
    drls = load_thickness_drls("uganda_2023")
    scatter = agd_scatter_markdown([("CC", 45.0, 1.2), ("MLO", 62.0, 1.9)], drls)
    assert scatter.startswith("![AGD against compressed breast thickness") and "base64," in scatter
    histogram = force_histogram_markdown([("Model / ROOM1", 80, 3), ("Model / ROOM1", 90, 5)], 50, 200)
    assert "data:image/png;base64," in histogram
    assert agd_scatter_markdown([], drls).startswith("_no ")


MG_RDSRS = [
    "MG-RDSR-GEPristina-2D.dcm",
    "MG-RDSR-GEPristina-DBT.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "MG-RDSR-Hologic_mix.dcm",
]


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_mammography_events_of_real_dose_srs_are_a_second_source(
    make_warehouse: Warehouse, openrem_test_files: Path
) -> None:
    from resources.dose.projection_events import analyse_projection_files
    from resources.dose.table_rows import table_rows
    from resources.warehouse import projection_tables

    make_warehouse.create_all()
    analysis = analyse_projection_files([openrem_test_files / name for name in MG_RDSRS])
    events = table_rows(projection_tables.ProjectionDoseEvent, analysis.events)
    contexts = table_rows(projection_tables.ProjectionStudyContext, analysis.contexts)
    make_warehouse.replace_partition(
        Lineage("2026-11-09", "test"),
        {projection_tables.ProjectionDoseEvent: events, projection_tables.ProjectionStudyContext: contexts},
    )
    audit = breast_audit(make_warehouse.engine, settings())
    assert audit.sources == ("image_header", "rdsr")
    mammo = [e for e in events if e["report_kind"] == "mammography"]
    flat = [e for e in mammo if e["event_type"] != "rotational_acquisition" and e["compression_thickness_mm"]]
    flat = [e for e in flat if e["average_glandular_dose_mgy"] is not None]
    assert flat and len(flat) < len(mammo)  # the DBT events are left out of the 2D dose bands
    rdsr_bands = [r for r in audit.dose_bands if r["source"] == "rdsr"]
    assert sum(r["n_exposures"] for r in rdsr_bands) == len(flat)
    by_band: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in flat:
        view = e["view"] if e["view"] in ("CC", "MLO") else "OTHER"
        by_band[(view, int(e["compression_thickness_mm"] // 10 * 10))].append(e["average_glandular_dose_mgy"])
    got: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rdsr_bands:
        got[(r["view"], r["band_min_mm"])].append(r["n_exposures"])
    assert {k: sum(v) for k, v in got.items()} == {k: len(v) for k, v in by_band.items()}
    forces = [e for e in mammo if e["compression_force_n"] is not None]
    rdsr_force = [r for r in audit.compression if r["source"] == "rdsr" and r["group_kind"] == "system"]
    assert sum(r["n_exposures"] for r in rdsr_force) == len(forces)
