"""The C-STORE listener against a real client (dcmtk storescu) and pynetdicom as a second SCU."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from resources.dicom_network.status import StoreStatus
from resources.listener import ListenerConfigError, StorageListener, check_health
from resources.listener.health import status_folder
from resources.quarantine import QuarantineStore
from resources.site_config import ListenerSettings, SiteConfig, load_site_config
from resources.spool.store import SpoolStore
from tests.dcmtk_tools import require_dcmtk, run_storescu, storescu_command, storescu_env
from tests.dicom_builder import pixel_ct, write_ct_studies
from tests.listener.conftest import ListenerProcess
from tests.listener_site import LAKE_AE, PACS_AE, RunningListener, start_listener_in_process, write_site
from tests.peers import free_port


def spool_rows(config: SiteConfig) -> list[sqlite3.Row]:
    con = sqlite3.connect(config.paths.spool / "index.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT * FROM spool_instance ORDER BY sop_instance_uid").fetchall()
    finally:
        con.close()


def sop_uids(files: list[Path]) -> set[str]:
    return {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}


def send_with_pynetdicom(port: int, dataset: pydicom.Dataset, calling_ae: str = PACS_AE) -> int:
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=LAKE_AE)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(dataset)
        return int(status.Status)
    finally:
        assoc.release()


@pytest.mark.dcmtk
def test_storescu_instances_are_spooled_once_each_with_receipts(
    listener: RunningListener, tmp_path: Path
) -> None:
    require_dcmtk("storescu")
    files = write_ct_studies(tmp_path / "send", studies=2, instances_per_study=5)
    result = run_storescu(listener.port, files)
    assert result.returncode == 0, result.stderr[-500:]
    # Send the same study again: the spool keeps one row and one file per SOP instance.
    assert run_storescu(listener.port, files[:3]).returncode == 0

    rows = spool_rows(listener.config)
    assert {r["sop_instance_uid"] for r in rows} == sop_uids(files)
    assert len(rows) == len(files)
    for row in rows:
        assert row["source"] == "listener"
        assert row["partition_key"] == "2026-11-09"
        assert row["calling_ae_title"] == PACS_AE
        stored = Path(row["path"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == row["sha256"]
        assert pydicom.dcmread(Path(row["path"])).SOPInstanceUID == row["sop_instance_uid"]
    assert not list(listener.config.paths.spool.rglob("*.part"))


@pytest.mark.dcmtk
def test_unknown_calling_ae_title_is_refused_and_nothing_stored(
    listener: RunningListener, tmp_path: Path
) -> None:
    require_dcmtk("storescu")
    files = write_ct_studies(tmp_path / "send", studies=1, instances_per_study=2)
    result = run_storescu(listener.port, files, calling_ae="INTRUDER")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr
    assert spool_rows(listener.config) == []


def test_listener_refuses_to_start_when_nobody_may_send(tmp_path: Path) -> None:
    settings = ListenerSettings(port=0, bind_address="127.0.0.1", allowed_calling_ae_titles=[])
    with pytest.raises(ListenerConfigError, match="allowed_calling_ae_titles is empty"):
        StorageListener(settings, SpoolStore(tmp_path / "spool"), QuarantineStore(tmp_path / "q"))


def test_undated_instance_is_quarantined_and_acknowledged(listener: RunningListener) -> None:
    dataset = pixel_ct(study_uid="1.2.3.4", series_uid="1.2.3.4.1", sop_uid="1.2.3.4.1.1", study_date=None)
    assert send_with_pynetdicom(listener.port, dataset) == StoreStatus.SUCCESS
    assert spool_rows(listener.config) == []
    entries = QuarantineStore(listener.config.paths.quarantine).entries(stage="listener")
    assert [e.reason for e in entries] == ["no study date (nor series, acquisition or content date)"]
    assert entries[0].file.name == "1.2.3.4.1.1.dcm"


def test_series_date_is_the_fallback_partition(listener: RunningListener) -> None:
    dataset = pixel_ct(study_uid="1.2.3.5", series_uid="1.2.3.5.1", sop_uid="1.2.3.5.1.1", study_date=None)
    dataset.AcquisitionDate = "20261031"
    assert send_with_pynetdicom(listener.port, dataset) == StoreStatus.SUCCESS
    assert [r["partition_key"] for r in spool_rows(listener.config)] == ["2026-10-31"]


def test_an_unwritable_spool_keeps_what_was_acknowledged_and_refuses_the_rest(
    listener: RunningListener,
) -> None:
    # A file where the partition folder must go: mkdir fails with a real OS error (ENOTDIR/EEXIST),
    # the same path through the code as a permission error or a full disk.
    spool = listener.config.paths.spool
    (spool / "2026-11-09").write_bytes(b"")
    first, second = (
        pixel_ct(study_uid="1.2.3.6", series_uid="1.2.3.6.1", sop_uid=f"1.2.3.6.1.{i}") for i in (1, 2)
    )
    # The first is durable in the journal before its spool file is tried: it is acknowledged, and its
    # association's release returns once the write failed (not after the release timeout).
    began = time.monotonic()
    assert send_with_pynetdicom(listener.port, first) == StoreStatus.SUCCESS
    assert time.monotonic() - began < 10
    # While the spool cannot be written, new instances are refused so that the sender resends them.
    assert send_with_pynetdicom(listener.port, second) == StoreStatus.OUT_OF_RESOURCES
    assert spool_rows(listener.config) == []
    assert not list(spool.rglob("*.part"))
    # Once the cause is fixed, the acknowledged instance is written from the journal's copy...
    (spool / "2026-11-09").unlink()
    deadline = time.monotonic() + 15
    while not spool_rows(listener.config) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [r["sop_instance_uid"] for r in spool_rows(listener.config)] == [first.SOPInstanceUID]
    assert pydicom.dcmread(spool_rows(listener.config)[0]["path"]).SOPInstanceUID == first.SOPInstanceUID
    # ... and the sender's retry of the refused one succeeds.
    assert send_with_pynetdicom(listener.port, second) == StoreStatus.SUCCESS
    assert len(spool_rows(listener.config)) == 2


@pytest.mark.dcmtk
def test_disk_full_answers_failure_status(tmp_path: Path) -> None:
    """A real write error from the kernel: the listener process may not write files over 64 KiB."""
    require_dcmtk("storescu")
    import resource
    import subprocess

    config_path = write_site(tmp_path / "site")
    config = load_site_config(config_path)
    SpoolStore(config.paths.spool).close()  # the index exists before the limit applies
    big = write_ct_studies(tmp_path / "big", studies=1, instances_per_study=1, rows=256)  # 128 KiB pixels
    small = write_ct_studies(tmp_path / "small", studies=1, instances_per_study=1)

    def limit_file_size() -> None:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    log = tmp_path / "listener.log"
    from tests.listener.conftest import wait_for_port

    handle = log.open("ab")
    process = subprocess.Popen(
        [
            str(Path(__import__("sys").executable).parent / "dicom-lake"),
            "--config",
            str(config_path),
            "listen",
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_file_size,
        env=storescu_env(),
    )
    try:
        wait_for_port(config.listener.port)
        status = send_with_pynetdicom(config.listener.port, pydicom.dcmread(big[0]))
        ok = run_storescu(config.listener.port, small)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert status == StoreStatus.OUT_OF_RESOURCES
    assert ok.returncode == 0, ok.stderr[-300:]
    rows = spool_rows(config)
    assert {r["sop_instance_uid"] for r in rows} == sop_uids(small)
    assert "sender told 0xA700" in log.read_text()


@pytest.mark.dcmtk
@pytest.mark.slow
def test_twenty_concurrent_associations_sending_1000_instances_lose_none(
    listener: RunningListener, tmp_path: Path
) -> None:
    require_dcmtk("storescu")
    files = write_ct_studies(tmp_path / "send", studies=20, instances_per_study=50)
    batches = [files[i * 50 : (i + 1) * 50] for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda batch: run_storescu(listener.port, batch, timeout=300), batches))
    assert [r.returncode for r in results] == [0] * 20, [r.stderr[-200:] for r in results if r.returncode]
    rows = spool_rows(listener.config)
    assert len(rows) == 1000
    assert {r["sop_instance_uid"] for r in rows} == sop_uids(files)
    assert all(Path(r["path"]).stat().st_size == r["size_bytes"] for r in rows)


@pytest.mark.dcmtk
@pytest.mark.slow
def test_sigkill_mid_association_then_restart_and_resend_stores_each_instance_once(tmp_path: Path) -> None:
    require_dcmtk("storescu")
    import subprocess

    config_path = write_site(tmp_path / "site")
    config = load_site_config(config_path)
    files = write_ct_studies(tmp_path / "send", studies=3, instances_per_study=200, rows=64)
    listener = ListenerProcess(config_path, config.listener.port, log=tmp_path / "listener.log")
    listener.start()
    sender = subprocess.Popen(
        storescu_command(config.listener.port, files),
        env=storescu_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    index = config.paths.spool / "index.sqlite"
    deadline = time.monotonic() + 60
    received = 0
    while time.monotonic() < deadline and received < 50:
        time.sleep(0.05)
        if index.exists():
            with sqlite3.connect(index) as con:
                received = con.execute("SELECT count(*) FROM spool_instance").fetchone()[0]
    listener.kill()  # SIGKILL, mid-association
    try:
        sender.wait(timeout=5)
    except subprocess.TimeoutExpired:
        sender.kill()  # storescu --no-halt goes on failing file after file; a PACS would back off
        sender.wait(timeout=10)
    rows_after_kill = spool_rows(config)
    assert 0 < len(rows_after_kill) < len(files)
    # Every recorded receipt points at a complete, parseable file; partial files are only ".part".
    for row in rows_after_kill:
        data = Path(row["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    indexed = {Path(r["path"]) for r in rows_after_kill}
    stray = [p for p in config.paths.spool.rglob("*.dcm") if p not in indexed]
    assert stray == [] or all(pydicom.dcmread(p).SOPInstanceUID for p in stray)

    listener.start()  # sweeps .part files, serves again
    try:
        assert not list(config.paths.spool.rglob("*.part"))
        result = run_storescu(config.listener.port, files, timeout=300)
        assert result.returncode == 0, result.stderr[-300:]
    finally:
        listener.stop()
    rows = spool_rows(config)
    assert len(rows) == len(files)
    assert {r["sop_instance_uid"] for r in rows} == sop_uids(files)


@pytest.mark.dcmtk
def test_health_reports_a_live_listener_and_a_stopped_one(tmp_path: Path) -> None:
    require_dcmtk("storescu")
    config_path = write_site(tmp_path / "site")
    config = load_site_config(config_path)
    running = start_listener_in_process(config)
    try:
        report = check_health(config.paths.spool, "127.0.0.1", config.listener.port)
        assert report.alive, report.problems
        assert report.processes[0]["port"] == config.listener.port
    finally:
        running.close()
    report = check_health(config.paths.spool, "127.0.0.1", config.listener.port)
    assert not report.alive
    assert any("nothing accepts connections" in p for p in report.problems)
    assert json.loads(json.dumps(report.as_dict()))["status"] == "down"


def test_health_names_acknowledged_instances_waiting_for_an_unwritable_spool(tmp_path: Path) -> None:
    spool_root = tmp_path / "spool"
    folder = status_folder(spool_root)
    folder.mkdir(parents=True)
    status = {
        "pid": os.getpid(),
        "heartbeat_at": time.time(),
        "split_backlog": 3,
        "spool_write_error": "x.dcm: could not be written to the spool: No space left on device",
    }
    (folder / "listener-1.json").write_text(json.dumps(status))
    report = check_health(spool_root, "127.0.0.1", free_port())
    assert report.processes and report.processes[0]["split_backlog"] == 3
    assert any(
        "3 acknowledged instance(s) wait in the journal" in p and "No space left" in p
        for p in report.problems
    ), report.problems
