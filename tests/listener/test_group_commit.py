"""The listener's group commit: leaders among the association threads, shared batches, shared errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from resources.listener.group_commit import GroupCommitter
from resources.spool import SpoolStore, SpoolWriteError
from resources.spool.records import SpoolRecord
from tests.dicom_builder import CT_IMAGE

PARTITION = "2026-11-09"


def _written(spool: SpoolStore, n: int) -> SpoolRecord:
    return spool.write_file(
        f"instance {n}".encode(),
        sop_instance_uid=f"1.2.3.{n}",
        sop_class_uid=CT_IMAGE,
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
