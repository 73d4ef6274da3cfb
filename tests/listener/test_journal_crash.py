"""The journal against real process deaths and real write errors: ``dicom-lake listen`` as a process."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from resources.dicom_network.status import StoreStatus
from resources.listener.journal import journal_folder
from resources.site_config import load_site_config
from resources.spool import SpoolStore
from tests.dicom_builder import pixel_ct
from tests.listener.conftest import REPO_ROOT, wait_for_port
from tests.listener_site import LAKE_AE, PACS_AE, start_listener_in_process, write_site

# The listener, with the fdatasync of its journal wrapped: after the Nth one the process SIGKILLs
# itself, i.e. once that record is durable in the journal but before its index row and its answer.
KILLED_AFTER_SYNC = """
import os, signal, sys
import resources.listener.journal as journal
journal.CHECKPOINT_INTERVAL_S = 3600.0  # nothing checkpointed: a power cut may drop every file
real_sync, left = journal.sync_data, int(os.environ["KILL_AFTER_SYNC"])
def sync_then_die(fd):
    global left
    real_sync(fd)
    left -= 1
    if left == 0:
        os.kill(os.getpid(), signal.SIGKILL)
journal.sync_data = sync_then_die
from orchestration.cli import main
sys.exit(main(["--config", sys.argv[1], "listen"]))
"""


STUDY = "1.2.826.0.1.3680043.10.1234.88"


def _rows(spool_root: Path) -> list[sqlite3.Row]:
    con = sqlite3.connect(spool_root / "index.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT * FROM spool_instance ORDER BY sop_instance_uid").fetchall()
    finally:
        con.close()


def _datasets(
    n: int, *, rows: int = 16, study: str = "1.2.826.0.1.3680043.10.1234.88"
) -> list[pydicom.Dataset]:
    return [
        pixel_ct(
            study_uid=study, series_uid=f"{study}.1", sop_uid=f"{study}.1.{i}", instance_number=i, rows=rows
        )
        for i in range(1, n + 1)
    ]


def _statuses(port: int, datasets: list[pydicom.Dataset]) -> list[int | None]:
    """Each C-STORE's status in one association; None once the listener is gone (no answer)."""
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(CTImageStorage)
    ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=LAKE_AE)
    assert assoc.is_established
    statuses: list[int | None] = []
    try:
        for ds in datasets:
            answer = assoc.send_c_store(ds) if assoc.is_established else None
            statuses.append(int(answer.Status) if answer is not None and "Status" in answer else None)
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def _spooled_once(spool_root: Path) -> dict[str, sqlite3.Row]:
    rows = _rows(spool_root)
    by_uid = {r["sop_instance_uid"]: r for r in rows}
    assert len(by_uid) == len(rows)
    for row in rows:
        assert hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest() == row["sha256"]
    return by_uid


def test_sigkill_between_journal_and_file_then_power_cut_loses_nothing_acknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_path = write_site(tmp_path / "site")
    config = load_site_config(config_path)
    spool_root = config.paths.spool
    datasets = _datasets(8)
    log = tmp_path / "listener.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_AFTER_SYNC, str(config_path)],
            cwd=REPO_ROOT,
            env={**os.environ, "TCP_NODELAY": "1", "PYTHONPATH": str(REPO_ROOT), "KILL_AFTER_SYNC": "6"},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(config.listener.port)
        statuses = _statuses(config.listener.port, datasets)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert statuses[:5] == [StoreStatus.SUCCESS] * 5
    assert statuses[5] is None  # journaled durably, then killed before its row and its answer
    acknowledged = {str(ds.SOPInstanceUID) for ds, s in zip(datasets, statuses, strict=True) if s == 0}
    assert len(list(journal_folder(spool_root).glob("*.journal"))) == 1

    # A power cut right after the kill: nothing of the spool was flushed (no checkpoint ran), so the
    # files may be gone or torn and the index rows lost; only the fdatasynced journal is certain.
    for number, path in enumerate(sorted(spool_root.rglob("*.dcm"))):
        if number % 2:
            path.write_bytes(b"")  # renamed into place, its data never written back
        else:
            path.unlink()
    for index_file in spool_root.glob("index.sqlite*"):
        index_file.unlink()

    with caplog.at_level(logging.INFO, logger="resources.listener.journal_recovery"):
        running = start_listener_in_process(config)  # recovery before serving
    try:
        recovered = _spooled_once(spool_root)
        assert acknowledged <= set(recovered)
        assert set(recovered) == {str(ds.SOPInstanceUID) for ds in datasets[:6]}  # 6th: journaled, unanswered
        assert list(journal_folder(spool_root).glob("*.journal"))  # this process's own segment only
        # The sender resends what it was not told Success for: stored once, counted as a re-send.
        assert _statuses(running.port, datasets[5:]) == [StoreStatus.SUCCESS] * 3
    finally:
        running.close()
    rows = _spooled_once(spool_root)
    assert set(rows) == {str(ds.SOPInstanceUID) for ds in datasets}
    assert [r["resend_count"] for r in rows.values() if r["resend_count"]] == [1]
    assert "journal recovery: 1 segment(s), 6 record(s): 6 file(s) written again, 6 index row(s)" in (
        caplog.text
    )


def _size(path: Path) -> int:
    """The file's size, 0 when a checkpoint deleted it meanwhile."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_a_full_journal_answers_a700_keeps_what_was_acknowledged_and_recovers(tmp_path: Path) -> None:
    """A real write error on the journal: the listener process may not write files over 64 KiB."""
    config_path = write_site(tmp_path / "site")
    config = load_site_config(config_path)
    spool_root = config.paths.spool
    SpoolStore(spool_root).close()  # the index exists before the limit applies

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    log = tmp_path / "listener.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dicom-lake"), "--config", str(config_path), "listen"],
            cwd=REPO_ROOT,
            env={**os.environ, "TCP_NODELAY": "1", "PYTHONPATH": str(REPO_ROOT)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_file_size,
        )
    datasets = _datasets(40, rows=128)  # 32 KiB of pixels each: two records overflow a segment
    statuses: list[int | None] = []
    try:
        wait_for_port(config.listener.port)
        # Until the journal refuses a record (its segment would pass the limit) ...
        while StoreStatus.OUT_OF_RESOURCES not in statuses and len(statuses) < 20:
            statuses += _statuses(config.listener.port, [datasets[len(statuses)]])
        assert statuses[-1] == StoreStatus.OUT_OF_RESOURCES
        # ... then once the checkpoint has rotated to a fresh segment, records are taken again.
        # The failed append brings the checkpoint forward (at most a second later): the segment that
        # was full is deleted, or already was (then no segment holds a record any more).
        full = {p for p in journal_folder(spool_root).glob("*.journal") if _size(p) > 0}
        deadline = time.monotonic() + 10
        while any(p.exists() for p in full) and time.monotonic() < deadline:
            time.sleep(0.05)  # the checkpoint runs inside the listener process: nothing to wait on here
        assert not any(p.exists() for p in full), "the full segment was not rotated within 10 s"
        statuses += _statuses(config.listener.port, [datasets[len(statuses)]])
        assert statuses[-1] == StoreStatus.SUCCESS
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert statuses[0] == StoreStatus.SUCCESS  # an empty segment takes one record
    assert "sender told 0xA700" in log.read_text()
    answered = list(zip(datasets, statuses, strict=False))
    acknowledged = {str(ds.SOPInstanceUID) for ds, s in answered if s == StoreStatus.SUCCESS}

    running = start_listener_in_process(config)  # no limit now; recovery first
    running.close()
    rows = _spooled_once(spool_root)
    assert acknowledged <= set(rows)
    refused = {str(ds.SOPInstanceUID) for ds, s in answered if s == StoreStatus.OUT_OF_RESOURCES}
    assert not refused & set(rows)  # refused ones were never journaled: the sender resends them
