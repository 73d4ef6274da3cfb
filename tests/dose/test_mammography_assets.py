"""The mammography assets on a generated site: header exposures per partition, then the breast audit with
its plots; with the example QA file and without any QA file; a rerun replaces, never duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.mammography import breast_screening_audit, mammography_exposures
from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus
from resources.dose.mammography.exposures import NO_QA_FILE
from resources.dose.mammography.resource import MammographyResource
from resources.site_config import WAREHOUSE_URL_ENV_VAR
from resources.site_resource import SiteConfigResource

EXAMPLE_QA = Path(__file__).resolve().parents[2] / "resources" / "dose" / "mammography" / "qa_example.yaml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    folder = tmp_path_factory.mktemp("mg_assets")
    spec = CorpusSpec(
        seed=31, n_studies=16, header_only=True, plant_phi=False, ct_images_per_series=2, mg_fraction=0.5
    )
    return folder, generate_corpus(folder, spec)


def make_site(
    tmp_path: Path, corpus: tuple[Path, CorpusManifest], mammography_yaml: str
) -> tuple[Path, str, int]:
    folder, manifest = corpus
    config = tmp_path / "dicom-lake.yaml"
    config.write_text(f"folders:\n  root: var\nmammography:\n{mammography_yaml}")
    day = max(
        {s["study_date"] for s in manifest.studies},
        key=lambda d: sum(1 for s in manifest.studies if s["study_date"] == d and s["modality"] == "MG"),
    )
    n_views = 0
    for study in (s for s in manifest.studies if s["study_date"] == day):
        n_views += len(study.get("mammo_views", []))
        for path in (folder / study["folder"]).rglob("*.dcm"):
            target = tmp_path / "var" / "research" / day / study["study_uid"] / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return config, day, n_views


def run(config: Path, assets: list, partition_key: str | None = None) -> dg.ExecuteInProcessResult:  # type: ignore[type-arg]
    resources = {"mammography": MammographyResource(site=SiteConfigResource(config_path=str(config)))}
    return dg.materialize(assets, resources=resources, partition_key=partition_key)


def count(config: Path, sql: str) -> int:
    engine = sa.create_engine(f"sqlite:///{config.parent / 'var' / 'warehouse.sqlite'}")
    with engine.connect() as con:
        value = con.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return int(value)


def test_exposures_then_audit_with_the_example_qa_file(
    tmp_path: Path, corpus: tuple[Path, CorpusManifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    config, day, n_views = make_site(tmp_path, corpus, f"  qa_file: {EXAMPLE_QA}\n  force_min_n: 80\n")
    assert n_views > 0
    for _ in range(2):  # the rerun replaces the partition's rows
        result = run(config, [mammography_exposures], day)
        assert result.success
    meta = result.asset_materializations_for_node("mammography_exposures")[0].metadata
    assert meta["mg_exposures"].value == n_views and meta["mgd_computed"].value > 0
    assert count(config, "SELECT COUNT(*) FROM header_exposure") == n_views
    assert (
        count(config, "SELECT COUNT(*) FROM header_exposure WHERE mgd_mgy IS NOT NULL AND mgd_qa_example") > 0
    )

    audit = run(config, [breast_screening_audit])
    assert audit.success
    meta = audit.asset_materializations_for_node("breast_screening_audit")[0].metadata
    assert "data:image/png;base64," in meta["agd_vs_thickness"].value
    assert "data:image/png;base64," in meta["force_per_system"].value
    assert meta["drl_set"].value == "uk_2022" and meta["sources"].value == ["image_header"]
    assert count(config, "SELECT SUM(n_exposures) FROM breast_dose_band") == n_views
    assert count(config, "SELECT COUNT(*) FROM breast_compression WHERE force_min_n = 80") > 0


def test_without_a_qa_file_the_assets_report_the_modality_figure_only(
    tmp_path: Path, corpus: tuple[Path, CorpusManifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    config, day, n_views = make_site(tmp_path, corpus, "  drl_set: uganda_2023\n")
    result = run(config, [mammography_exposures], day)
    meta = result.asset_materializations_for_node("mammography_exposures")[0].metadata
    assert meta["qa_file"].value == "none configured" and meta["mgd_computed"].value == 0
    assert meta["mgd_not_computed_by_reason"].value == {NO_QA_FILE: n_views}
    assert run(config, [breast_screening_audit]).success
    assert (
        count(config, "SELECT COUNT(*) FROM breast_mgd_comparison WHERE qa_file IS NULL AND n_compared = 0")
        > 0
    )


def test_a_configured_but_invalid_qa_file_fails_the_run_naming_the_field(
    tmp_path: Path, corpus: tuple[Path, CorpusManifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    bad = tmp_path / "qa.yaml"
    bad.write_text("rooms: []\n")
    config, day, _ = make_site(tmp_path, corpus, f"  qa_file: {bad}\n")
    with pytest.raises(Exception, match=r"qa\.yaml: rooms: List should have at least 1 item"):
        run(config, [mammography_exposures], day)
