"""The store identity: written at first use, the same for every process on the same folders, and a
clear error for a worker that sees another store than its run."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pytest

from orchestration.celery_app import check_run_store
from orchestration.executors import STORE_IDENTITY_TAG
from resources.errors import DicomLakeError
from resources.site_config import CONFIG_ENV_VAR, load_site_config
from resources.store_identity import (
    IDENTITY_FILE,
    StoreIdentityError,
    check_same_store,
    ensure_store_identity,
    parse_identity_tag,
    read_store_identity,
)


def _site(root: Path) -> Path:
    path = root / "dicom-lake.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(f"folders:\n  root: {root}\n")
    return path


def test_first_use_writes_one_identity_per_zone_and_later_reads_agree(tmp_path: Path) -> None:
    folders = load_site_config(_site(tmp_path / "site")).paths
    assert read_store_identity(folders).zones == dict.fromkeys(("spool", "research", "quarantine"), "missing")
    first = ensure_store_identity(folders)
    assert len(set(first.zones.values())) == 3, "each zone has an identity of its own"
    assert (folders.spool / IDENTITY_FILE).read_text().strip() == first.zones["spool"]
    assert ensure_store_identity(folders) == first
    assert read_store_identity(folders).zones == first.zones
    assert parse_identity_tag(first.as_tag()) == dict(first.zones)
    assert str(folders.spool) not in first.as_tag(), "a path differs between machines: not in the tag"


def test_processes_starting_together_agree_on_one_identity(tmp_path: Path) -> None:
    folders = load_site_config(_site(tmp_path / "site")).paths
    seen: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        seen.append(ensure_store_identity(folders).zones["research"])

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert not list(folders.research.glob(f"{IDENTITY_FILE}.*.tmp"))


def test_another_store_is_named_with_its_folder_and_both_identities(tmp_path: Path) -> None:
    shared = ensure_store_identity(load_site_config(_site(tmp_path / "shared")).paths)
    local_folders = load_site_config(_site(tmp_path / "local")).paths
    with pytest.raises(StoreIdentityError) as caught:
        check_same_store(shared.zones, read_store_identity(local_folders), where="this worker")
    message = str(caught.value)
    assert isinstance(caught.value, DicomLakeError)
    assert str(local_folders.spool) in message and "spool" in message
    assert shared.zones["spool"] in message and "missing" in message
    check_same_store(shared.zones, shared, where="this worker")  # the same store passes


def test_a_damaged_identity_file_is_named(tmp_path: Path) -> None:
    folders = load_site_config(_site(tmp_path / "site")).paths
    folders.quarantine.mkdir(parents=True)
    (folders.quarantine / IDENTITY_FILE).write_text("not an identity\n")
    with pytest.raises(StoreIdentityError, match=IDENTITY_FILE):
        ensure_store_identity(folders)
    with pytest.raises(StoreIdentityError):
        parse_identity_tag("[1, 2]")


def test_a_worker_on_another_store_refuses_the_step_of_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = ensure_store_identity(load_site_config(_site(tmp_path / "shared")).paths)
    with dg.instance_for_test() as instance:
        run = instance.add_run(
            dg.DagsterRun(job_name="retrospective_pull_job", tags={STORE_IDENTITY_TAG: expected.as_tag()})
        )
        untagged = instance.add_run(dg.DagsterRun(job_name="retrospective_pull_job"))
        monkeypatch.setenv(CONFIG_ENV_VAR, str(_site(tmp_path / "shared")))
        check_run_store(instance.get_ref(), run.run_id)
        monkeypatch.setenv(CONFIG_ENV_VAR, str(_site(tmp_path / "elsewhere")))
        with pytest.raises(StoreIdentityError, match="sees another spool store than the run expects"):
            check_run_store(instance.get_ref(), run.run_id)
        check_run_store(instance.get_ref(), untagged.run_id)  # nothing recorded, nothing to compare
