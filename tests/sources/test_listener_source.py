"""A source's listener files what it receives under that source's partitions."""

from __future__ import annotations

from pathlib import Path

from resources.dicom_network.status import StoreStatus
from resources.listener.storage_listener import StorageListener
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings
from resources.spool.store import SpoolStore
from tests.dicom_builder import CT_IMAGE, ct_image, encode, with_file_meta


def receive_one(tmp_path: Path, partition_source: str | None) -> SpoolStore:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    listener = StorageListener(
        ListenerSettings(allowed_calling_ae_titles=["EAST"], fsync=False),
        spool,
        QuarantineStore(tmp_path / "quarantine"),
        partition_source=partition_source,
    )
    ds = with_file_meta(ct_image(StudyDate="20261109", sop_uid="2.25.501"))
    assert listener.receive(encode(ds), "2.25.501", CT_IMAGE, "EAST") == StoreStatus.SUCCESS
    return spool


def test_the_source_name_qualifies_the_study_date_partition(tmp_path: Path) -> None:
    spool = receive_one(tmp_path, "east")
    (record,) = spool.instances("2026-11-09|east")
    assert Path(record.path).parent.parent.name == "2026-11-09@east"
    assert Path(record.path).is_file()
    assert spool.instances("2026-11-09") == []


def test_without_sources_the_partition_is_the_study_date(tmp_path: Path) -> None:
    spool = receive_one(tmp_path, None)
    (record,) = spool.instances("2026-11-09")
    assert Path(record.path).parent.parent.name == "2026-11-09"
