"""The listener's journal: group fdatasync, torn tails, recovery after a kill or a power cut."""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

import resources.listener.journal as journal_module
from resources.dicom_network.status import StoreStatus
from resources.listener.journal import Journal, journal_folder
from resources.listener.journal_format import encode_record, read_segment
from resources.listener.journal_recovery import recover
from resources.listener.storage_listener import StorageListener
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings, SiteConfig, load_site_config
from resources.spool import SpoolStore
from resources.spool.errors import SpoolWriteError
from resources.spool.records import SpoolRecord
from tests.dicom_builder import CT_IMAGE, pixel_ct
from tests.listener_site import LAKE_AE, PACS_AE, start_listener_in_process, write_site

PARTITION = "2026-11-09"


def _written(spool: SpoolStore, n: int, data: bytes | None = None) -> tuple[SpoolRecord, bytes]:
    payload = data if data is not None else f"instance {n} ".encode() * 50
    record = spool.write_file(
        payload,
        sop_instance_uid=f"1.2.3.{n}",
        sop_class_uid=CT_IMAGE,
        study_uid="1.2.3",
        series_uid="1.2.3.0",
        partition_key=PARTITION,
        source="listener",
        calling_ae_title=PACS_AE,
        defer_sync=True,
    )
    return record, payload


def _journal(journal: Journal, record: SpoolRecord, data: bytes) -> None:
    """Append one record, make it durable and settle it, as the receive path does."""
    ticket = journal.append(record, data)
    journal.wait_durable(ticket)
    journal.settle(ticket)


def _rows(spool_root: Path) -> list[sqlite3.Row]:
    con = sqlite3.connect(spool_root / "index.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT * FROM spool_instance ORDER BY sop_instance_uid").fetchall()
    finally:
        con.close()


def _send_all(port: int, datasets: list[pydicom.Dataset]) -> list[int]:
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=LAKE_AE)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def _datasets(
    n: int, *, study: str = "1.2.826.0.1.3680043.10.1234.77", rows: int = 16
) -> list[pydicom.Dataset]:
    return [
        pixel_ct(
            study_uid=study, series_uid=f"{study}.1", sop_uid=f"{study}.1.{i}", instance_number=i, rows=rows
        )
        for i in range(1, n + 1)
    ]


def _assert_spooled_once(spool_root: Path, uids: set[str]) -> None:
    rows = _rows(spool_root)
    assert sorted(r["sop_instance_uid"] for r in rows) == sorted(uids)  # each exactly once
    for row in rows:
        assert hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest() == row["sha256"]
        assert row["resend_count"] == 0  # a replay is not a re-send


# -- the journal on its own --------------------------------------------------------------------------
def test_concurrent_records_share_one_fdatasync_per_group_and_a_checkpoint_deletes_the_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    real_sync = journal_module.sync_data

    def slow_disk(fd: int) -> None:
        time.sleep(0.05)  # a slow disk: records queue up behind the group being synced
        real_sync(fd)

    monkeypatch.setattr(journal_module, "sync_data", slow_disk)
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    written = [_written(spool, n) for n in range(12)]
    errors: list[BaseException] = []

    def receive(record: SpoolRecord, data: bytes) -> None:
        ticket = journal.append(record, data)
        try:
            journal.wait_durable(ticket)
            spool.index_records([record])  # what the splitter does once the record is durable
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            journal.settle(ticket)

    threads = [threading.Thread(target=receive, args=pair) for pair in written]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert spool.known_instances() == {record.sop_instance_uid for record, _ in written}
    assert journal.stats.records == 12
    assert 1 <= journal.stats.fsyncs < 12  # grouped, not one fdatasync per instance
    assert journal.stats.largest_group > 1
    segments = list(journal_folder(spool.root).glob("*.journal"))
    assert len(segments) == 1
    assert len(read_segment(segments[0])[0]) == 12
    assert journal.checkpoint()  # spool made durable: the segment is no longer needed
    assert [p for p in journal_folder(spool.root).glob("*.journal") if p.stat().st_size] == []
    journal.close()
    assert list(journal_folder(spool.root).glob("*.journal")) == []


def test_a_lone_waiting_thread_leads_its_own_fdatasync_with_no_other_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    syncing_threads: list[int] = []
    real_sync = journal_module.sync_data

    def spy_sync(fd: int) -> None:
        syncing_threads.append(threading.get_ident())
        real_sync(fd)

    monkeypatch.setattr(journal_module, "sync_data", spy_sync)
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    for n in range(3):
        _journal(journal, *_written(spool, n))
    assert syncing_threads == [threading.get_ident()] * 3  # each record synced by its own receiver
    assert journal.stats.fsyncs == 3 and journal.stats.largest_group == 1
    journal.close()


def test_a_torn_last_record_is_dropped_with_a_log_line_and_the_rest_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    written = [_written(spool, n) for n in range(4)]
    for record, data in written:
        _journal(journal, record, data)
    segment = next(journal_folder(spool.root).glob("*.journal"))
    image = segment.read_bytes()
    # The crash: the process died in the middle of appending a fifth record; the files and rows of
    # the first four never reached the disk (power cut before any checkpoint).
    torn = encode_record(*_written(spool, 4))
    crashed = tmp_path / "crashed"
    shutil.copytree(journal_folder(spool.root), crashed / ".journal")
    (crashed / ".journal" / segment.name).write_bytes(image + (torn[0] + torn[1])[:-7])
    journal.close()

    fresh = SpoolStore(crashed / "spool", fsync=True)
    with caplog.at_level(logging.WARNING, logger="resources.listener.journal_recovery"):
        report = recover(fresh, crashed / ".journal")
    assert report.torn_records == 1
    assert "torn record at byte" in caplog.text and segment.name in caplog.text
    assert (report.records, report.files_written, report.rows_recorded) == (4, 4, 4)
    _assert_spooled_once(fresh.root, {record.sop_instance_uid for record, _ in written})
    assert list((crashed / ".journal").glob("*.journal")) == []  # replayed, then deleted


def test_a_failed_append_leaves_no_torn_record_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    first = journal.append(*_written(spool, 1))
    journal.wait_durable(first)  # left unsettled: no checkpoint may delete its segment before we look
    real_pwritev = journal_module.os.pwritev

    def short_then_full(fd: int, buffers: list[memoryview], offset: int) -> int:
        if not hasattr(short_then_full, "called"):
            short_then_full.called = True  # type: ignore[attr-defined]
            return int(real_pwritev(fd, [buffers[0][:10]], offset))  # a short write ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(journal_module.os, "pwritev", short_then_full)
    with pytest.raises(SpoolWriteError, match="not journaled: No space left on device"):
        journal.append(*_written(spool, 2))
    monkeypatch.setattr(journal_module.os, "pwritev", real_pwritev)
    _journal(journal, *_written(spool, 3))
    # The failed append brought a checkpoint forward: the third record may be in a fresh segment.
    journaled = []
    for segment in sorted(journal_folder(spool.root).glob("*.journal")):
        entries, torn_at = read_segment(segment)
        assert torn_at is None  # the short write was cut away: no torn record hides what follows
        journaled += [e.record.sop_instance_uid for e in entries]
    assert journaled == ["1.2.3.1", "1.2.3.3"]
    journal.settle(first)
    journal.close()


def test_a_segment_held_by_a_live_process_is_not_replayed(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    journal = Journal(journal_folder(spool.root), spool.make_durable, checkpoint_interval_s=3600)
    _journal(journal, *_written(spool, 1))
    report = recover(SpoolStore(tmp_path / "spool"), journal_folder(spool.root))
    assert report.segments == 0  # its flock is held: a sibling worker's live journal
    assert len(list(journal_folder(spool.root).glob("*.journal"))) == 1
    journal.close()


# -- the listener ------------------------------------------------------------------------------------
def _site(tmp_path: Path, engine: str = "native") -> tuple[Path, SiteConfig]:
    path = write_site(tmp_path / "site", listener={"engine": engine})
    return path, load_site_config(path)


def _associate(port: int) -> Association:
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=LAKE_AE)
    assert assoc.is_established
    return assoc


@pytest.mark.parametrize("engine", ["native", "pynetdicom"])
def test_success_follows_the_journal_fdatasync_and_the_release_waits_for_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """The C-STORE answer waits for the journal only; the spool file and row are written behind, and
    the A-RELEASE-RP waits for them. A failing index is retried behind (the instance is durable)."""
    events: list[str] = []
    real_sync, real_index = journal_module.sync_data, SpoolStore.index_records
    index_works = threading.Event()

    def spy_sync(fd: int) -> None:
        real_sync(fd)
        events.append("journal fdatasync")

    def spy_index(store: SpoolStore, records: list[SpoolRecord]) -> None:
        if not index_works.is_set():
            events.append("index failed")
            raise SpoolWriteError("injected: index unavailable")
        time.sleep(0.5)  # a slow index: a release that did not wait would return before the row
        real_index(store, records)
        events.append("indexed")

    monkeypatch.setattr(journal_module, "sync_data", spy_sync)
    monkeypatch.setattr(SpoolStore, "index_records", spy_index)
    _path, config = _site(tmp_path, engine)
    running = start_listener_in_process(config)
    try:
        first, second = _datasets(2)
        assoc = _associate(running.port)
        try:
            assert int(assoc.send_c_store(first).Status) == StoreStatus.SUCCESS
            assert events[0] == "journal fdatasync"  # the answer came once the record was durable
        finally:
            assoc.release()  # returns as soon as the write failed: the instance waits in the journal
        assert "index failed" in events
        assert _rows(config.paths.spool) == []
        index_works.set()  # the retry (within about a second) indexes the acknowledged instance
        deadline = time.monotonic() + 10
        while not _rows(config.paths.spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r["sop_instance_uid"] for r in _rows(config.paths.spool)] == [first.SOPInstanceUID]

        events.clear()
        assoc = _associate(running.port)
        try:
            assert int(assoc.send_c_store(second).Status) == StoreStatus.SUCCESS
            assert events == ["journal fdatasync"]  # answered before the (slow) index commit
        finally:
            assoc.release()
        assert events == ["journal fdatasync", "indexed"]  # the release waited for it
        assert len(_rows(config.paths.spool)) == 2
    finally:
        index_works.set()
        running.close()


def test_power_cut_at_the_last_fdatasync_keeps_every_acknowledged_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What survives a power cut: the journal as of its last fdatasync, nothing written since the last
    checkpoint (spool files, folders, index rows). Recovery from that must restore every Success."""
    monkeypatch.setattr(journal_module, "CHECKPOINT_INTERVAL_S", 3600.0)  # no checkpoint before the cut
    on_disk: dict[str, bytes] = {}
    real_sync = journal_module.sync_data

    def sync_and_record_the_disk(fd: int) -> None:
        real_sync(fd)
        path = Path(f"/proc/self/fd/{fd}").resolve()
        on_disk[path.name] = path.read_bytes()  # exactly what this fdatasync made durable

    monkeypatch.setattr(journal_module, "sync_data", sync_and_record_the_disk)
    _path, config = _site(tmp_path)
    running = start_listener_in_process(config)
    datasets = _datasets(30)
    try:
        statuses = _send_all(running.port, datasets)
    finally:
        running.close()
    assert statuses == [StoreStatus.SUCCESS] * 30
    assert on_disk  # the acknowledgements came from fdatasyncs of the journal

    # The machine comes back: the spool lost everything not fsynced, the journal kept its synced part.
    spool_root = config.paths.spool
    for child in spool_root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    journal_folder(spool_root).mkdir()
    for name, image in on_disk.items():
        (journal_folder(spool_root) / name).write_bytes(image)

    running = start_listener_in_process(config)  # recovery runs before serving
    running.close()
    _assert_spooled_once(spool_root, {str(ds.SOPInstanceUID) for ds in datasets})
    assert list(journal_folder(spool_root).glob("*.journal")) == []


def test_a_resent_instance_is_counted_and_reported_in_the_listener_status(tmp_path: Path) -> None:
    settings = ListenerSettings(port=0, bind_address="127.0.0.1", allowed_calling_ae_titles=[PACS_AE])
    spool = SpoolStore(tmp_path / "spool", fsync=True)
    listener = StorageListener(settings, spool, QuarantineStore(tmp_path / "quarantine"))
    port = listener.start()
    try:
        [dataset] = _datasets(1)
        assert _send_all(port, [dataset, dataset]) == [StoreStatus.SUCCESS] * 2
        status = listener.status()
    finally:
        listener.stop()
    assert status["spool_instances_resent"] == 1
    [row] = _rows(spool.root)
    assert row["resend_count"] == 1
    assert status["spool_last_resent_at"] == row["last_resent_at"] == row["received_at"]
    assert status["journal_records"] == 2 and status["journal_fsyncs"] >= 1
