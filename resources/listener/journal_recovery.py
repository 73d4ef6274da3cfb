"""Crash recovery of the listener's journal: replays segments that no live listener process holds.

Run at listener start-up, before serving (:meth:`StorageListener.start`). For every orphaned segment
(its process died: SIGKILL, a crash, a power cut) each record is checked against the spool: a file
that is missing or whose SHA-256 differs is written again from the journal, an index row that is
missing or older than the record is recorded; then the spool is made durable and the segment
deleted. Records the index already holds (same receipt time) are left alone, so a replay never
counts a re-send and never brings back a purged file. A torn last record (length or CRC-32 wrong)
is dropped with a log line: the crash came mid-append, so it was never acknowledged and its sender
resends it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from resources.listener.journal_format import SUFFIX, VOID, JournalEntry, read_segment
from resources.spool.errors import SpoolWriteError
from resources.spool.records import SpoolRecord
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What a recovery found and did (counts only: the log names segments, never patient data)."""

    segments: int = 0
    records: int = 0
    files_written: int = 0
    rows_recorded: int = 0
    torn_records: int = 0
    segments_kept: int = 0


def orphaned_segments(folder: Path) -> Iterator[tuple[Path, int]]:
    """Segments in ``folder`` whose process is gone, each with an fd holding its lock (caller closes)."""
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # another worker recovered it meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live listener process owns it
            os.close(fd)
            continue
        yield path, fd


def _file_matches(path: Path, record: SpoolRecord) -> bool:
    try:
        if path.stat().st_size != record.size_bytes:
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
    except OSError:
        return False


def replay(spool: SpoolStore, entries: list[JournalEntry], report: RecoveryReport) -> list[Path]:
    """Write what the spool lacks of ``entries``; returns the files written.

    Raises
    ------
    SpoolWriteError
        If a file or the index cannot be written (the segment must then be kept).
    """
    latest: dict[str, JournalEntry] = {}
    for entry in entries:  # a re-send within the segment: its last copy is the one that counts
        uid = entry.record.sop_instance_uid
        known = latest.get(uid)
        if entry.record.size_bytes == VOID:  # its file failed after it was journaled: not stored
            if known is not None and known.record.received_at == entry.record.received_at:
                del latest[uid]
        elif known is None or entry.record.received_at >= known.record.received_at:
            latest[uid] = entry
    rows = spool.receipts(list(latest))
    written: list[Path] = []
    to_index: list[SpoolRecord] = []
    for uid, entry in latest.items():
        meta = entry.record
        row = rows.get(uid)
        if row is not None and (row[0] > meta.received_at or row[1] == "purged"):
            continue  # a later receipt replaced it, or it was purged since: not ours to restore
        target = spool.path_for(meta.partition_key, meta.study_uid, uid)
        if not _file_matches(target, meta):
            written.append(
                spool.write_file(
                    entry.data,
                    sop_instance_uid=uid,
                    sop_class_uid=meta.sop_class_uid,
                    study_uid=meta.study_uid,
                    series_uid=meta.series_uid,
                    partition_key=meta.partition_key,
                    source=meta.source,
                    calling_ae_title=meta.calling_ae_title,
                    defer_sync=True,
                ).path
            )
            report.files_written += 1
        if row is None or row[0] < meta.received_at:
            to_index.append(
                SpoolRecord(
                    sop_instance_uid=uid,
                    partition_key=meta.partition_key,
                    study_uid=meta.study_uid,
                    series_uid=meta.series_uid,
                    sop_class_uid=meta.sop_class_uid,
                    path=target,
                    sha256=meta.sha256,
                    size_bytes=meta.size_bytes,
                    source=meta.source,
                    received_at=meta.received_at,
                    calling_ae_title=meta.calling_ae_title,
                )
            )
    spool.index_records(to_index)
    report.rows_recorded += len(to_index)
    return written


def recover(spool: SpoolStore, folder: Path) -> RecoveryReport:
    """Replay and delete every orphaned segment in ``folder`` (a segment that fails is kept, logged).

    Raises
    ------
    SpoolWriteError
        Never for one segment (kept and logged instead); only if the spool cannot be made durable.
    """
    report = RecoveryReport()
    if not folder.is_dir():
        return report
    for path, fd in orphaned_segments(folder):
        try:
            entries, torn_at = read_segment(path)
            report.segments += 1
            report.records += len(entries)
            if torn_at is not None:
                report.torn_records += 1
                log.warning(
                    "journal %s: torn record at byte %d dropped (cut short by a crash, never acknowledged)",
                    path.name,
                    torn_at,
                )
            written = replay(spool, entries, report)
            spool.make_durable(written)
            path.unlink()
        except (OSError, SpoolWriteError) as exc:
            report.segments_kept += 1
            log.error("journal %s not replayed (%s); kept for the next start", path.name, exc)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    if report.segments:
        log.info(
            "journal recovery: %d segment(s), %d record(s): %d file(s) written again, %d index row(s) "
            "recorded, %d torn record(s) dropped",
            report.segments,
            report.records,
            report.files_written,
            report.rows_recorded,
            report.torn_records,
        )
    return report
