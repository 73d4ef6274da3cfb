"""That no analysis loads the lake's rows (every result is bounded by the number of groups, the same
statements run whatever the period), and that the five assets materialize in a Dagster instance with
their tables and plots in the metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from assets import analytics as analytics_assets
from resources.analytics.catalog import ANALYSES, run_analyses
from resources.analytics.errors import AnalyticsError
from resources.analytics.resource import AnalyticsResource
from resources.analytics.sources import instance
from resources.analytics.sql import fetch, result_row_limit
from resources.corpus import CorpusManifest
from resources.site_config import WAREHOUSE_URL_ENV_VAR
from resources.site_resource import SiteConfigResource
from resources.warehouse import Warehouse
from resources.warehouse.resource import WarehouseResource
from tests.analytics.conftest import curate_site

Corpus = tuple[Path, CorpusManifest]
ASSETS = [
    analytics_assets.activity,
    analytics_assets.device_map,
    analytics_assets.workflow_timing,
    analytics_assets.population,
    analytics_assets.data_quality,
]


def test_every_query_returns_at_most_one_row_per_study(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    bound = len(manifest.studies)
    with site_warehouse.engine.connect() as con:
        n_instances = int(con.execute(sa.select(sa.func.count()).select_from(instance)).scalar_one())
    assert n_instances > 4 * bound  # the bound is far below what loading rows would need
    with result_row_limit(bound):
        analyses = run_analyses(site_warehouse.engine)
        assert [a.key for a in analyses] == list(ANALYSES)
        with site_warehouse.engine.connect() as con, pytest.raises(AnalyticsError, match="aggregate in SQL"):
            fetch(con, sa.select(instance.c.sop_instance_uid), "every instance")


def test_a_bound_below_the_groups_stops_the_analysis(site_warehouse: Warehouse) -> None:
    with result_row_limit(3), pytest.raises(AnalyticsError, match="more than 3 rows"):
        run_analyses(site_warehouse.engine, keys=["activity"])


def _statements(engine: sa.Engine, **period: Any) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        run_analyses(engine, **period)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


def test_the_statements_do_not_depend_on_the_data(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    day = dt.date.fromisoformat(manifest.studies[0]["study_date"])
    whole = _statements(site_warehouse.engine)
    one_day = _statements(site_warehouse.engine, start=day, end=day)
    assert len(whole) == len(one_day)  # no query per row, per study or per group


def test_an_end_before_the_start_is_refused(site_warehouse: Warehouse) -> None:
    with pytest.raises(AnalyticsError, match="end lies before the start"):
        run_analyses(site_warehouse.engine, start=dt.date(2026, 11, 2), end=dt.date(2026, 11, 1))


@pytest.fixture()
def site_config(tmp_path: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(WAREHOUSE_URL_ENV_VAR, raising=False)
    config = tmp_path / "dicom-lake.yaml"
    config.write_text("folders:\n  root: var\n")
    folder, manifest = corpus
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'var' / 'warehouse.sqlite'}")
    curate_site(warehouse, folder, manifest)
    warehouse.dispose()
    yield config


def test_assets_materialize_with_tables_and_plots(site_config: Path, tmp_path: Path, corpus: Corpus) -> None:
    _, manifest = corpus
    resource = AnalyticsResource(
        warehouse=WarehouseResource(site=SiteConfigResource(config_path=str(site_config)))
    )
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as dagster_instance:
        result = dg.materialize(ASSETS, resources={"analytics": resource}, instance=dagster_instance)
        assert result.success
        for asset in ASSETS:
            key = asset.key
            event = dagster_instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None, key
            metadata = event.asset_materialization.metadata
            assert metadata["dagster/row_count"].value > 0
            tables = [v.value for k, v in metadata.items() if k.startswith("table_")]
            plots = [v.value for k, v in metadata.items() if k.startswith("plot_")]
            assert tables and all(t.startswith("| ") or t.startswith("_no rows") for t in tables), key
            assert plots and all("data:image/png;base64," in p for p in plots), key
        activity = dagster_instance.get_latest_materialization_event(dg.AssetKey("activity"))
        assert activity is not None and activity.asset_materialization is not None
        totals = activity.asset_materialization.metadata["table_totals"].value
        assert f"| {len(manifest.studies)} |" in totals


def test_the_assets_are_in_the_definitions_in_their_group() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for asset in ASSETS:
        assert graph.get(asset.key).group_name == "analytics"
        assert dg.AssetKey("curated_instances") in graph.get(asset.key).parent_keys


def test_a_schema_is_honoured_without_a_search_path(site_warehouse: Warehouse, corpus: Corpus) -> None:
    _, manifest = corpus
    # PostgreSQL: the test schema, reached without the search path; SQLite: its "main" schema.
    schema = site_warehouse.schema or "main"
    plain = sa.create_engine(site_warehouse.url)
    try:
        (analysis,) = run_analyses(plain, schema=schema, keys=["activity"])
    finally:
        plain.dispose()
    assert int(analysis.tables["totals"]["studies"].iloc[0]) == len(manifest.studies)
