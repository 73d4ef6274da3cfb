"""The listener's group commit: leaders among the association threads, shared batches, shared errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import resources.listener.group_commit as group_commit
from resources.listener.group_commit import GroupCommitter
from resources.spool import SpoolStore, SpoolWriteError
from resources.spool.store import SpoolRecord

PARTITION = "2026-11-09"


def _written(spool: SpoolStore, n: int) -> SpoolRecord:
    return spool.write_file(
        f"instance {n}".encode(),
        sop_instance_uid=f"1.2.3.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_uid="1.2.3",
        series_uid="1.2.3.0",
        partition_key=PARTITION,
        source="listener",
        defer_sync=True,
    )


def test_a_lone_sender_commits_in_its_own_thread_one_batch_per_instance(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    committer = GroupCommitter(spool)
    threads_before = threading.active_count()
    for n in range(5):
        record = _written(spool, n)
        committer.sync_file(record.path)
        committer.commit(record)
        assert f"1.2.3.{n}" in spool.known_instances()  # indexed when commit() returns
    assert threading.active_count() == threads_before  # no committer thread
    assert committer.batches == 5
    committer.close()


def test_concurrent_senders_share_batches_and_all_are_indexed(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    synced: list[Path] = []

    def slow_sync(folder: Path) -> None:
        synced.append(folder)
        time.sleep(0.05)  # a slow disk: records queue up behind the batch being committed

    committer = GroupCommitter(spool, sync_directory=slow_sync)
    records = [_written(spool, n) for n in range(12)]
    errors: list[BaseException] = []

    def send(record: SpoolRecord) -> None:
        try:
            committer.commit(record)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(r,)) for r in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert spool.known_instances() == {r.sop_instance_uid for r in records}
    assert 1 <= committer.batches < len(records)  # batched, not one commit per instance
    committer.close()


def test_a_failed_folder_fsync_fails_every_record_of_its_batch_and_indexes_none(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)

    def failing_sync(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    committer = GroupCommitter(spool, sync_directory=failing_sync)
    record = _written(spool, 1)
    with pytest.raises(SpoolWriteError, match="not fsynced"):
        committer.commit(record)
    assert spool.known_instances() == set()
    committer.close()
    with pytest.raises(SpoolWriteError, match="listener is stopping"):
        committer.commit(_written(spool, 2))


def test_a_batch_is_made_durable_by_one_syncfs_before_it_is_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not group_commit.syncfs_available():
        pytest.skip("syncfs(2) is not available on this platform")
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    committer = GroupCommitter(spool)
    assert committer.use_syncfs
    events: list[tuple[str, int, set[str]]] = []
    real_sync_filesystem, real_index_records = group_commit.sync_filesystem, spool.index_records

    def spy_sync_filesystem(folder: Path) -> None:
        events.append(("syncfs", 0, spool.known_instances()))
        real_sync_filesystem(folder)

    def slow_index_records(records: list[SpoolRecord]) -> None:
        time.sleep(0.1)  # the first (lone) commit is slow: the others queue up into one batch
        real_index_records(records)
        events.append(("indexed", len(records), spool.known_instances()))

    def spy_fsync_file(path: Path) -> None:
        events.append(("fsync file", 0, set()))

    monkeypatch.setattr(group_commit, "sync_filesystem", spy_sync_filesystem)
    monkeypatch.setattr(group_commit, "fsync_file", spy_fsync_file)
    monkeypatch.setattr(spool, "index_records", slow_index_records)
    records = [_written(spool, n) for n in range(9)]
    first = threading.Thread(target=committer.commit, args=(records[0],))
    first.start()
    time.sleep(0.03)  # the first record's leader is committing
    threads = [threading.Thread(target=committer.commit, args=(r,)) for r in records[1:]]
    for thread in threads:
        thread.start()
    for thread in [first, *threads]:
        thread.join(10)
    kinds = [kind for kind, _, _ in events]
    assert kinds[:2] == ["fsync file", "indexed"]  # the lone first record: fsyncs, no syncfs
    assert "syncfs" in kinds
    batch_at = kinds.index("syncfs")
    assert events[batch_at][2] == {records[0].sop_instance_uid}  # its batch not yet indexed
    assert kinds[batch_at + 1] == "indexed" and events[batch_at + 1][1] >= 4
    assert spool.known_instances() == {r.sop_instance_uid for r in records}
    committer.close()
