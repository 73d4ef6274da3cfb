"""The splitter behind the acknowledgement: bounded backlog, release barrier, failures kept in the journal."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.listener import journal_split
from resources.listener.journal import Journal, journal_folder
from resources.listener.journal_recovery import recover
from resources.listener.journal_split import JournalSplitter
from resources.listener.receive_writer import ReceiveWriter
from resources.spool import SpoolStore
from resources.spool.errors import SpoolWriteError
from resources.spool.instance_header import InstanceHeader
from resources.spool.records import SpoolRecord, utc_now
from tests.dicom_builder import CT_IMAGE
from tests.listener_site import PACS_AE

PARTITION = "2026-11-09"
STUDY = "1.2.3"


def _planned(spool: SpoolStore, n: int, data: bytes) -> SpoolRecord:
    uid = f"{STUDY}.1.{n}"
    return SpoolRecord(
        sop_instance_uid=uid,
        partition_key=PARTITION,
        study_uid=STUDY,
        series_uid=f"{STUDY}.1",
        sop_class_uid=CT_IMAGE,
        path=spool.path_for(PARTITION, STUDY, uid),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        source="listener",
        received_at=utc_now(),
        calling_ae_title=PACS_AE,
    )


def _acknowledge(journal: Journal, splitter: JournalSplitter, record: SpoolRecord, data: bytes) -> None:
    """What the receive path does before Success: journal, fdatasync, hand over."""
    ticket = journal.append(record, data)
    journal.wait_durable(ticket)
    splitter.put(record, data, ticket)


@pytest.fixture
def spool(tmp_path: Path) -> SpoolStore:
    return SpoolStore(tmp_path / "spool", fsync=True)


@pytest.fixture
def journal(spool: SpoolStore) -> Iterator[Journal]:
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    yield journal
    journal.close(wait_s=1)


def test_a_full_backlog_holds_the_next_answer_until_the_disk_catches_up(
    spool: SpoolStore, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_free = threading.Event()
    real_write = SpoolStore.write_file

    def stalled_write(self: SpoolStore, *args: Any, **kwargs: Any) -> SpoolRecord:
        disk_free.wait(10)
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(SpoolStore, "write_file", stalled_write)
    data = b"x" * 1000
    splitter = JournalSplitter(spool, journal, max_backlog_bytes=2500)
    for n in range(3):  # 3,000 bytes queued: the backlog is full
        _acknowledge(journal, splitter, _planned(spool, n, data), data)
    answered = threading.Event()

    def fourth() -> None:
        _acknowledge(journal, splitter, _planned(spool, 3, data), data)
        answered.set()

    threading.Thread(target=fourth, daemon=True).start()
    assert not answered.wait(0.5)  # held: memory stays bounded while the disk is slow
    disk_free.set()
    assert answered.wait(10)
    assert splitter.wait_split(10)
    assert splitter.close()
    assert spool.known_instances() == {f"{STUDY}.1.{n}" for n in range(4)}


def test_the_release_waits_for_the_files_and_rows_of_its_own_thread(
    spool: SpoolStore, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_index = SpoolStore.index_records

    def slow_index(self: SpoolStore, records: Any) -> None:
        time.sleep(0.3)
        real_index(self, records)

    monkeypatch.setattr(SpoolStore, "index_records", slow_index)
    splitter = JournalSplitter(spool, journal)
    assert splitter.wait_split(0)  # nothing queued by this thread: nothing to wait for
    data = b"y" * 100
    record = _planned(spool, 1, data)
    _acknowledge(journal, splitter, record, data)
    assert not spool.has_instance(record.sop_instance_uid)  # answered before it was indexed
    assert splitter.wait_split(10)
    assert spool.has_instance(record.sop_instance_uid)
    assert record.path.read_bytes() == data
    assert splitter.close()


def _header() -> InstanceHeader:
    return InstanceHeader(
        study_uid=STUDY, series_uid=f"{STUDY}.1", partition_key=PARTITION, date_source="StudyDate"
    )


def test_while_the_spool_fails_new_instances_are_refused_and_a_stop_keeps_the_rest_for_the_replay(
    spool: SpoolStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_write(self: SpoolStore, *args: Any, **kwargs: Any) -> SpoolRecord:
        raise SpoolWriteError("injected: no space left on device")

    monkeypatch.setattr(SpoolStore, "write_file", failing_write)
    writer = ReceiveWriter(spool)
    writer.open()
    kept, refused = f"{STUDY}.1.1", f"{STUDY}.1.2"
    data = b"z" * 100
    writer.store(data, kept, CT_IMAGE, PACS_AE, _header())  # durable in the journal: acknowledged
    began = time.monotonic()
    writer.release()  # gives up as soon as the write failed, not after the release timeout
    assert time.monotonic() - began < 5
    backlog, error, _stats = writer.split_state()
    assert backlog == 1 and error is not None and "no space left" in error
    with pytest.raises(SpoolWriteError, match="spool not writable"):
        writer.store(data, refused, CT_IMAGE, PACS_AE, _header())  # the sender hears 0xA700
    began = time.monotonic()
    writer.close()  # what is left stays in the journal, whose segment is released
    assert time.monotonic() - began < 10
    assert not spool.has_instance(kept)
    monkeypatch.undo()  # the disk has room again: the next start replays the journal
    report = recover(spool, journal_folder(spool.root))
    assert report.rows_recorded == 1  # the refused one was voided
    assert spool.known_instances() == {kept}
    (record,) = spool.instances(PARTITION)
    assert record.path.read_bytes() == data
    assert list(journal_folder(spool.root).glob("*.journal")) == []


def test_a_resend_is_written_after_the_copy_it_replaces(spool: SpoolStore) -> None:
    """Both receipts of one SOP Instance UID go to one splitter, so the later one ends in the spool."""
    writer = ReceiveWriter(spool)
    writer.open()
    try:
        header = _header()
        uid = f"{STUDY}.1.7"
        for copy in (b"first copy " * 20, b"second copy " * 20):
            writer.store(copy, uid, CT_IMAGE, PACS_AE, header)
        writer.release()
        (record,) = spool.instances(PARTITION)
        assert record.path.read_bytes() == b"second copy " * 20
        assert spool.resend_summary().instances == 1
    finally:
        writer.close()


def test_instances_gather_for_one_index_transaction_and_a_release_ends_the_wait_at_once(
    spool: SpoolStore, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_split, "LINGER_S", 30.0)  # only a release (or a full batch) ends it
    transactions: list[int] = []
    real_index = SpoolStore.index_records

    def counted_index(self: SpoolStore, records: Any) -> None:
        transactions.append(len(records))
        real_index(self, records)

    monkeypatch.setattr(SpoolStore, "index_records", counted_index)
    splitter = JournalSplitter(spool, journal)
    data = b"g" * 200
    records = [_planned(spool, n, data) for n in range(20)]
    for record in records:
        _acknowledge(journal, splitter, record, data)
    time.sleep(0.2)
    assert transactions == []  # still gathering: nothing written yet, the journal holds them
    began = time.monotonic()
    assert splitter.wait_split(20)
    assert time.monotonic() - began < 10  # the release did not wait out the 30 s
    assert transactions == [20]  # all of them in one transaction
    assert spool.known_instances() == {r.sop_instance_uid for r in records}
    assert splitter.close()


def test_without_a_release_the_gathered_instances_are_written_after_the_linger(
    spool: SpoolStore, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_split, "LINGER_S", 3.0)  # longer than the 3 appends take
    splitter = JournalSplitter(spool, journal)
    data = b"h" * 200
    records = [_planned(spool, n, data) for n in range(3)]
    for record in records:
        _acknowledge(journal, splitter, record, data)
    deadline = time.monotonic() + 15
    while spool.known_instances() != {r.sop_instance_uid for r in records} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool.known_instances() == {r.sop_instance_uid for r in records}
    assert splitter.stats.batches == 1 and splitter.stats.instances == 3
    assert splitter.close()
