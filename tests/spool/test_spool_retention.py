"""Spool retention: identifiable copies leave the spool after their retention, and nothing is lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pydicom
import yaml

from assets.deidentification import deidentified_instances
from resources.deid.resource import DeidentificationResource
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore
from tests.deid.conftest import phi_ct
from tests.dicom_builder import encode

PARTITION = "2026-11-10"
SECRET = "retention-test-secret-0123456789"


def store(spool: SpoolStore, ds: pydicom.Dataset) -> None:
    spool.store(
        encode(ds),
        sop_instance_uid=ds.SOPInstanceUID,
        sop_class_uid=ds.SOPClassUID,
        study_uid=ds.StudyInstanceUID,
        series_uid=ds.SeriesInstanceUID,
        partition_key=PARTITION,
        source="pacs",
    )


def site_file(tmp_path: Path, retention_days: int) -> SiteConfigResource:
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(
        yaml.safe_dump({"folders": {"root": str(tmp_path / "var"), "spool_retention_days": retention_days}})
    )
    return SiteConfigResource(config_path=str(path))


def test_purge_removes_released_files_and_lets_them_be_fetched_again(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    ds = phi_ct(study_uid="1.2.3.4.100")
    store(spool, ds)
    (record,) = spool.instances(PARTITION)
    assert spool.purge(older_than=dt.timedelta(0)) == 0, "received instances are never purged"
    spool.set_state([record.sop_instance_uid], "released")
    assert spool.purge(older_than=dt.timedelta(days=1)) == 0, "still inside its retention"
    assert spool.purge(older_than=dt.timedelta(0)) == 1
    assert not record.path.exists()
    assert spool.known_instances([record.sop_instance_uid]) == set(), (
        "a purged instance may be retrieved again"
    )
    store(spool, ds)
    assert spool.known_instances([record.sop_instance_uid]) == {record.sop_instance_uid}


def test_deidentification_purges_after_retention_and_refuses_a_rerun_that_would_lose_data(
    tmp_path: Path,
) -> None:
    site = site_file(tmp_path, retention_days=0)
    spool = SpoolStore(site.load().paths.spool, fsync=False)
    store(spool, phi_ct(study_uid="1.2.3.4.100"))
    resource = DeidentificationResource(site=site, secret_key=SECRET)

    first = dg.materialize([deidentified_instances], resources={"deid": resource}, partition_key=PARTITION)
    assert first.success
    metadata = first.asset_materializations_for_node("deidentified_instances")[0].metadata
    assert metadata["spool_files_purged"].value == 1
    research = site.load().paths.research / PARTITION
    kept = sorted(research.rglob("*.dcm"))
    assert len(kept) == 1

    rerun = dg.materialize(
        [deidentified_instances], resources={"deid": resource}, partition_key=PARTITION, raise_on_error=False
    )
    assert not rerun.success
    failure = rerun.get_step_failure_events()[0].event_specific_data.error
    assert "purged from the spool" in failure.message
    assert sorted(research.rglob("*.dcm")) == kept, "the previous research copies stay"


def test_nothing_is_purged_inside_the_retention(tmp_path: Path) -> None:
    site = site_file(tmp_path, retention_days=7)
    spool = SpoolStore(site.load().paths.spool, fsync=False)
    store(spool, phi_ct(study_uid="1.2.3.4.100"))
    resource = DeidentificationResource(site=site, secret_key=SECRET)
    for _ in range(2):
        result = dg.materialize(
            [deidentified_instances], resources={"deid": resource}, partition_key=PARTITION
        )
        assert result.success
        assert (
            result.asset_materializations_for_node("deidentified_instances")[0]
            .metadata["spool_files_purged"]
            .value
            == 0
        )
