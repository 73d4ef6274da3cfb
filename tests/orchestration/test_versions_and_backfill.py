"""Data-driven code versions make partitions stale; ``dicom-lake backfill`` launches a range."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from assets.code_versions import data_version_of, settings_version, versioned
from assets.partitions import study_date_partitions
from resources.site_config import DeidentificationSettings
from tests.listener_site import write_site
from tests.orchestration.sites import REPO_ROOT


def test_data_version_follows_file_content_and_names(tmp_path: Path) -> None:
    table = tmp_path / "factors" / "k.csv"
    table.parent.mkdir()
    table.write_text("region,k\nchest,0.014\n")
    first = data_version_of(table)
    assert data_version_of(table) == first
    folder_version = data_version_of(table.parent)
    table.write_text("region,k\nchest,0.0140001\n")
    assert data_version_of(table) != first
    assert data_version_of(table.parent) != folder_version
    (tmp_path / "factors" / "extra.csv").write_text("x\n")
    assert data_version_of(table.parent) != data_version_of(table)
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        data_version_of(tmp_path / "missing.csv")


def test_settings_version_ignores_order_but_not_values() -> None:
    base = DeidentificationSettings()
    assert settings_version(base) == settings_version(DeidentificationSettings())
    assert settings_version({"a": 1, "b": 2}) == settings_version({"b": 2, "a": 1})
    assert settings_version(base) != settings_version(base.model_copy(update={"clean_descriptors": False}))
    assert versioned("deid-2", "abc", "def") == "deid-2+abc+def"


def _curated(code_version: str) -> dg.AssetsDefinition:
    @dg.asset(name="curated_instances", partitions_def=study_date_partitions, code_version=code_version)
    def curated_instances() -> None:
        return None

    return curated_instances


def test_changed_mapping_file_marks_materialised_partitions_stale(tmp_path: Path) -> None:
    mapping = tmp_path / "exam_names.csv"
    mapping.write_text("raw,canonical\nCT THORAX,Chest\n")
    key = dg.AssetKey("curated_instances")
    with dg.instance_for_test() as instance:
        before = _curated(versioned("curation-1", data_version_of(mapping)))
        assert dg.materialize([before], instance=instance, partition_key="2026-11-09").success
        status = get_stale_status_resolver(instance, [before]).get_status(key, "2026-11-09")
        assert status == StaleStatus.FRESH

        mapping.write_text("raw,canonical\nCT THORAX,Chest\nCT CHEST,Chest\n")
        after = _curated(versioned("curation-1", data_version_of(mapping)))
        resolver = get_stale_status_resolver(instance, [after])
        assert resolver.get_status(key, "2026-11-09") == StaleStatus.STALE
        causes = resolver.get_stale_root_causes(key, "2026-11-09")
        assert any(
            "code version" in str(cause.category).lower() or "CODE" in str(cause.category) for cause in causes
        )


@pytest.mark.slow
def test_backfill_command_launches_one_run_per_study_date(tmp_path: Path) -> None:
    config_path = write_site(tmp_path / "site")
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "orchestration" / "instance" / "dagster.yaml", home / "dagster.yaml")
    module = tmp_path / "backfill_defs.py"
    module.write_text(
        f"from graph_stub import stub_definitions\ndefs = stub_definitions({str(config_path)!r})\n"
    )
    shim = tmp_path / "graph_stub.py"
    shim.write_text((Path(__file__).parent / "stub_graph.py").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
    }
    dicom_lake = str(Path(sys.executable).parent / "dicom-lake")
    command = [
        dicom_lake,
        "--config",
        str(config_path),
        "backfill",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-11",
        "--definitions-module",
        "backfill_defs",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-800:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="retrospective_pull_job"))
        assert sorted(r.tags.get("dagster/partition") for r in runs) == [
            "2026-11-09",
            "2026-11-10",
            "2026-11-11",
        ]
        assert all(r.tags.get("dicom-lake/trigger") == "cli-backfill" for r in runs)
        # Queued on the instance (the daemon launches them), not run by the command itself.
        assert {r.status for r in runs} == {dg.DagsterRunStatus.QUEUED}

    reversed_range = subprocess.run(
        [dicom_lake, "--config", str(config_path), "backfill", "--from", "2026-11-11", "--to", "2026-11-09"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reversed_range.returncode == 2
    assert "before --from" in reversed_range.stderr
