"""Our storage SCP (both engines) and the durability order of the retrieval writer."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pynetdicom import AE

import resources.pacs.spool_writer as spool_writer
import resources.spool.durability as spool_durability
from resources.dicom_network.association import NetworkOptions
from resources.dicom_network.status import StoreStatus
from resources.pacs.retrieve import PartitionRetriever
from resources.pacs.spool_writer import SpoolWriter
from resources.pacs.storage_scp import ENGINES, Engine, StorageScp
from resources.pacs.study_index import read_partition_index
from resources.spool import SpoolStore
from tests.dicom_builder import CT_IMAGE, ct_image, write_file
from tests.retrieval.conftest import LAKE_AE, PARTITION, Archive, RunningDemo
from tests.retrieval.test_demo_retrieval import _index

REQUESTED_STUDY = "1.2.826.0.1.3680043.10.999.7.1"
OTHER_STUDY = "1.2.826.0.1.3680043.10.999.7.2"


def _send(port: int, files: list[Path], calling_ae: str = "SOME_PACS") -> list[int]:
    """C-STORE the files to our SCP with a pynetdicom SCU; returns the statuses."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(CT_IMAGE)
    assoc = ae.associate("127.0.0.1", port, ae_title=LAKE_AE)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(dcmread(path)).Status) for path in files]
    finally:
        assoc.release()


def _ct_file(folder: Path, study_uid: str, number: int) -> Path:
    ds = ct_image(
        sop_uid=f"{study_uid}.1.{number}",
        study_uid=study_uid,
        series_uid=f"{study_uid}.1",
        StudyDate="20261109",
        InstanceNumber=number,
    )
    return write_file(ds, folder / f"{number}.dcm")


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_spool_requested_instances_with_their_hash_and_refuse_others(
    engine: Engine, tmp_path: Path
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    writer = SpoolWriter(spool, PARTITION)
    writer.accept_studies({REQUESTED_STUDY})
    wanted = [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2, 3)]
    stray = _ct_file(tmp_path / "stray", OTHER_STUDY, 9)
    with StorageScp(writer, ae_title=LAKE_AE, engine=engine, options=NetworkOptions()) as scp:
        statuses = _send(scp.port, [*wanted, stray])
    assert statuses == [StoreStatus.SUCCESS] * 3 + [StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS]
    assert writer.counters.received == 3 and writer.counters.refused == 1
    records = spool.instances(PARTITION)
    assert sorted(r.sop_instance_uid for r in records) == sorted(dcmread(p).SOPInstanceUID for p in wanted)
    for record in records:
        assert record.source == "pacs" and record.partition_key == PARTITION
        assert record.study_uid == REQUESTED_STUDY
        assert record.sha256 == hashlib.sha256(record.path.read_bytes()).hexdigest()
        received = dcmread(record.path)
        assert received.file_meta.MediaStorageSOPInstanceUID == record.sop_instance_uid
        assert received.StudyInstanceUID == REQUESTED_STUDY
    assert not list((tmp_path / "spool").rglob("*.part"))


@pytest.mark.parametrize("engine", ENGINES)
def test_full_retrieval_by_either_engine_gets_every_instance_once(
    engine: Engine, demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    retriever = PartitionRetriever(
        demo.peer,
        demo.network,
        demo.options(policy="full", storage_scp_engine=engine),
        spool,
        PARTITION,
        sleep=lambda s: None,
    )
    summary = retriever.retrieve(read_partition_index(spool, PARTITION))
    wanted = {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}
    assert summary.instances_retrieved == len(wanted)
    assert sorted(r.sop_instance_uid for r in spool.instances(PARTITION)) == sorted(wanted)


def test_an_instance_is_indexed_only_after_its_file_and_folders_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    writer = SpoolWriter(spool, PARTITION, batch_size=2)
    writer.use_syncfs = False  # file by file (the syncfs variant is the next test)
    synced: list[tuple[Path, set[str]]] = []  # what was fsynced, and what was indexed at that moment

    def record_sync(path: Path) -> None:
        synced.append((path, spool.known_instances()))

    monkeypatch.setattr(spool_writer, "fsync_directory", record_sync)
    monkeypatch.setattr(spool_writer, "fsync_file", record_sync)
    files = [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2, 3)]
    uids = [str(dcmread(p).SOPInstanceUID) for p in files]

    assert writer.receive(files[0].read_bytes(), uids[0], CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert spool.known_instances() == set() and synced == []  # written, not yet counted as present
    assert not list(spool.root.rglob("*.part"))  # but already complete under its final name
    for path, uid in zip(files[1:], uids[1:], strict=True):
        assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert writer.flush() == 3
    assert spool.known_instances() == set(uids)
    assert writer.flush() == 0
    writer.close()

    study_folder = spool.path_for(PARTITION, REQUESTED_STUDY, uids[0]).parent
    files_synced = {spool.path_for(PARTITION, REQUESTED_STUDY, uid) for uid in uids}
    assert {path for path, _ in synced} == files_synced | {study_folder, study_folder.parent, spool.root}
    for uid in uids:
        # Before the instance first shows in the index, its file and its folder were fsynced.
        first_known = next((n for n, (_, known) in enumerate(synced) if uid in known), len(synced))
        before = [path for path, _ in synced[:first_known]]
        assert spool.path_for(PARTITION, REQUESTED_STUDY, uid) in before
        assert study_folder in before and spool.root in before


def test_with_syncfs_an_instance_is_indexed_only_after_its_filesystem_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    writer = SpoolWriter(spool, PARTITION, batch_size=4)
    writer.use_syncfs = True
    synced: list[tuple[str, Path, set[str]]] = []
    real_sync_filesystem = spool_writer.sync_filesystem

    def record(kind: str) -> Any:
        def sync(path: Path) -> None:
            synced.append((kind, path, spool.known_instances()))
            if kind == "syncfs" and spool_writer.syncfs_available():
                real_sync_filesystem(path)

        return sync

    monkeypatch.setattr(spool_writer, "sync_filesystem", record("syncfs"))
    monkeypatch.setattr(spool_writer, "fsync_directory", record("folder"))
    monkeypatch.setattr(spool_writer, "fsync_file", record("file"))
    files = [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2, 3, 4, 5)]
    uids = [str(dcmread(p).SOPInstanceUID) for p in files]
    for path, uid in zip(files, uids, strict=True):
        assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert writer.flush() == 5
    writer.close()
    assert spool.known_instances() == set(uids)
    kinds = [kind for kind, _, _ in synced]
    # The batch of four: one syncfs of the spool, before any of it is indexed. The last instance, a
    # batch of one, is fsynced file then folders (cheaper than flushing the whole filesystem).
    assert kinds[0] == "syncfs" and synced[0][1] == spool.root and synced[0][2] == set()
    assert kinds[1:] == ["file", "folder", "folder", "folder"]
    assert all(known == set(uids[:4]) for _, _, known in synced[1:])


def test_a_flush_waits_for_batches_another_thread_submitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent moves share one writer: each move's flush must see its instances indexed.

    Here the first flush takes both pending instances into a batch whose indexing is held back; a
    second flush (the other move's) must wait for that batch, not return because nothing is pending.
    """
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    writer = SpoolWriter(spool, PARTITION)
    gate = threading.Event()
    index_records = spool.index_records

    def held_back(records: Any) -> None:
        gate.wait(10)
        index_records(records)

    monkeypatch.setattr(spool, "index_records", held_back)
    files = [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2)]
    uids = [str(dcmread(p).SOPInstanceUID) for p in files]
    for path, uid in zip(files, uids, strict=True):
        assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    first = threading.Thread(target=writer.flush)
    first.start()
    time.sleep(0.1)  # the first flush has taken the pending batch
    second_done = threading.Event()
    seen_by_second: list[set[str]] = []

    def second_flush() -> None:
        writer.flush()
        seen_by_second.append(spool.known_instances())
        second_done.set()

    threading.Thread(target=second_flush).start()
    assert not second_done.wait(0.3)  # still waiting for the held-back batch
    gate.set()
    assert second_done.wait(10)
    first.join(10)
    assert seen_by_second == [set(uids)]
    writer.close()


def test_a_copy_replacing_a_spooled_file_is_fsynced_before_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    writer = SpoolWriter(spool, PARTITION)
    synced_while_receiving: list[Path] = []  # folder fsyncs done by write_atomically itself
    monkeypatch.setattr(spool_durability, "fsync_directory", synced_while_receiving.append)
    path = _ct_file(tmp_path / "in", REQUESTED_STUDY, 1)
    uid = str(dcmread(path).SOPInstanceUID)
    assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert synced_while_receiving == []  # a new file: made durable later, in its batch
    assert writer.flush() == 1
    assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert synced_while_receiving == [spool.path_for(PARTITION, REQUESTED_STUDY, uid).parent]
    assert writer.flush() == 1
    writer.close()
    assert spool.known_instances() == {uid}


@pytest.mark.parametrize("use_syncfs", [False, True])
def test_a_batch_that_cannot_be_made_durable_is_not_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_syncfs: bool
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    writer = SpoolWriter(spool, PARTITION)
    writer.use_syncfs = use_syncfs

    def failing_sync(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(spool_writer, "fsync_directory", failing_sync)
    monkeypatch.setattr(spool_writer, "sync_filesystem", failing_sync)
    path = _ct_file(tmp_path / "in", REQUESTED_STUDY, 1)
    uid = str(dcmread(path).SOPInstanceUID)
    assert writer.receive(path.read_bytes(), uid, CT_IMAGE, "PACS") == StoreStatus.SUCCESS
    assert writer.flush() == 0
    assert spool.known_instances() == set()  # a rerun moves it again
    assert writer.counters.received == 0 and writer.counters.failed == 1


def test_the_listeners_per_instance_store_still_fsyncs_file_and_folder_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    folder_syncs: list[Path] = []
    monkeypatch.setattr(spool_durability, "fsync_directory", folder_syncs.append)
    path = _ct_file(tmp_path / "in", REQUESTED_STUDY, 1)
    record = spool.store(
        path.read_bytes(),
        sop_instance_uid=str(dcmread(path).SOPInstanceUID),
        sop_class_uid=CT_IMAGE,
        study_uid=REQUESTED_STUDY,
        series_uid=f"{REQUESTED_STUDY}.1",
        partition_key=PARTITION,
        source="listener",
    )
    assert folder_syncs == [record.path.parent]
    assert spool.known_instances() == {record.sop_instance_uid}
