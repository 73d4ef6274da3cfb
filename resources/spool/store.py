"""The spool: the identifiable landing zone for instances received from the PACS or the listener.

Files are written atomically (temporary file in the same folder, fsync, rename, fsync of the folder),
so a reader never sees a partial file and a crash leaves at most a ``.part`` file that is ignored and
swept. Permissions are owner-only. Every received instance gets a row in the spool index
(``index.sqlite`` beside the files): SOP/series/study UIDs, partition, SHA-256, size, where it came from
and its state. The index is the only record of what has already been received, which is what makes
retrieval resumable and reruns idempotent.

The spool index is in the identifiable zone too (it holds source UIDs and descriptions); nothing from
it may be copied into logs or Dagster metadata except counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resources.spool.durability import write_atomically_sized
from resources.spool.errors import SpoolWriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indexed_study (
    study_uid TEXT PRIMARY KEY,
    partition_key TEXT NOT NULL,
    accession_number TEXT,
    study_date TEXT,
    study_time TEXT,
    modalities TEXT,
    study_description TEXT,
    station_name TEXT,
    n_series INTEGER,
    n_instances INTEGER,
    selected INTEGER NOT NULL DEFAULT 1,
    selection_reason TEXT,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_indexed_study_partition ON indexed_study(partition_key);
CREATE TABLE IF NOT EXISTS indexed_series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    modality TEXT,
    series_number INTEGER,
    series_description TEXT,
    station_name TEXT,
    sop_class_uid TEXT,
    n_instances INTEGER,
    is_dose_report INTEGER NOT NULL DEFAULT 0,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_indexed_series_partition ON indexed_series(partition_key);
CREATE TABLE IF NOT EXISTS spool_instance (
    sop_instance_uid TEXT PRIMARY KEY,
    partition_key TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    source TEXT NOT NULL,
    calling_ae_title TEXT,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'received',
    state_reason TEXT
);
CREATE INDEX IF NOT EXISTS ix_spool_instance_partition ON spool_instance(partition_key);
CREATE INDEX IF NOT EXISTS ix_spool_instance_study ON spool_instance(study_uid);
CREATE INDEX IF NOT EXISTS ix_spool_instance_received ON spool_instance(received_at);
CREATE TABLE IF NOT EXISTS retrieval_failure (
    partition_key TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    last_attempt_at TEXT NOT NULL,
    PRIMARY KEY (study_uid, series_uid, sop_instance_uid)
);
"""

STATES = ("received", "released", "quarantined", "purged")


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def partition_key_from_dicom_date(value: str | None) -> str | None:
    """``YYYYMMDD`` (DICOM DA) to the partition key ``YYYY-MM-DD``; None when absent or invalid."""
    if not value:
        return None
    text = str(value).strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:  # dt.date validates the calendar; cheaper than strptime on the receive path
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


@dataclass(frozen=True)
class SpoolRecord:
    sop_instance_uid: str
    partition_key: str
    study_uid: str
    series_uid: str
    sop_class_uid: str
    path: Path
    sha256: str
    size_bytes: int
    source: str
    received_at: str
    state: str = "received"
    calling_ae_title: str | None = None
    state_reason: str | None = None


_PLAIN_UID = re.compile(r"[0-9.]{1,64}")


def _safe_component(uid: str) -> str:
    # UIDs are digits and dots; anything else (a broken sender) is hashed so it cannot escape the folder.
    if _PLAIN_UID.fullmatch(uid) and uid.strip("."):
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


class SpoolStore:
    """The spool folder and its index. Safe to share between threads and processes (SQLite WAL)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.root, 0o700)
        self._root_text = os.fspath(self.root)
        self.index_path = self.root / "index.sqlite"
        self._local = threading.local()
        # executescript manages its own transaction, so it runs outside connect().
        self._connection().executescript(_SCHEMA)

    # -- index connection -------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.index_path, timeout=60, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- files ----------------------------------------------------------------------------------------
    def path_for(self, partition_key: str, study_uid: str, sop_instance_uid: str) -> Path:
        # One string, one Path: this runs for every received instance, and pathlib's "/" parses anew.
        study, sop = _safe_component(study_uid), _safe_component(sop_instance_uid)
        return Path(f"{self._root_text}/{partition_key}/{study}/{sop}.dcm")

    def has_instance(self, sop_instance_uid: str) -> bool:
        row = (
            self._connection()
            .execute("SELECT 1 FROM spool_instance WHERE sop_instance_uid = ?", (sop_instance_uid,))
            .fetchone()
        )
        return row is not None

    def known_instances(self, sop_instance_uids: Sequence[str] | None = None) -> set[str]:
        """SOP Instance UIDs whose files are in the spool (purged ones are not: they may be fetched again)."""
        con = self._connection()
        if sop_instance_uids is None:
            return {
                r[0]
                for r in con.execute("SELECT sop_instance_uid FROM spool_instance WHERE state != 'purged'")
            }
        found: set[str] = set()
        uids = list(sop_instance_uids)
        for start in range(0, len(uids), 500):
            batch = uids[start : start + 500]
            marks = ",".join("?" * len(batch))
            found.update(
                r[0]
                for r in con.execute(
                    "SELECT sop_instance_uid FROM spool_instance"
                    f" WHERE state != 'purged' AND sop_instance_uid IN ({marks})",
                    batch,
                )
            )
        return found

    def store(
        self,
        data: bytes | Sequence[bytes],
        *,
        sop_instance_uid: str,
        sop_class_uid: str,
        study_uid: str,
        series_uid: str,
        partition_key: str,
        source: str,
        calling_ae_title: str | None = None,
    ) -> SpoolRecord:
        """Write one encoded DICOM file (with preamble and meta header) and record it.

        Idempotent: a second copy of a known SOP Instance UID replaces the file and keeps one row.

        Raises
        ------
        SpoolWriteError
            If the file or its index row cannot be written; nothing half-written is left behind.
        """
        record = self.write_file(
            data,
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=sop_class_uid,
            study_uid=study_uid,
            series_uid=series_uid,
            partition_key=partition_key,
            source=source,
            calling_ae_title=calling_ae_title,
        )
        self.index_records([record])
        return record

    def write_file(
        self,
        data: bytes | Sequence[bytes],
        *,
        sop_instance_uid: str,
        sop_class_uid: str,
        study_uid: str,
        series_uid: str,
        partition_key: str,
        source: str,
        calling_ae_title: str | None = None,
        defer_sync: bool = False,
    ) -> SpoolRecord:
        """The file half of :meth:`store`: write atomically, but do not index (see :meth:`index_records`).

        With ``defer_sync`` neither the file nor its folder is fsynced: the file is still renamed into
        place only once complete (readers never see a partial file), but the caller must fsync the
        file, its folder (and the partition folder, when the study folder is new) before it indexes
        the record, so that an indexed instance always survives a crash.

        Raises
        ------
        SpoolWriteError
            If the file cannot be written; nothing half-written is left behind.
        """
        target = self.path_for(partition_key, study_uid, sop_instance_uid)
        sha256, size = write_atomically_sized(target, data, fsync=self.fsync and not defer_sync)
        return SpoolRecord(
            sop_instance_uid=sop_instance_uid,
            partition_key=partition_key,
            study_uid=study_uid,
            series_uid=series_uid,
            sop_class_uid=sop_class_uid,
            path=target,
            sha256=sha256,
            size_bytes=size,
            source=source,
            received_at=utc_now(),
            calling_ae_title=calling_ae_title,
        )

    def index_records(self, records: Sequence[SpoolRecord]) -> None:
        """Record written files in the spool index, all in one transaction (idempotent per SOP UID).

        Raises
        ------
        SpoolWriteError
            If the index cannot be written (no row of the batch is recorded then).
        """
        if not records:
            return
        try:
            with self.connect() as con:
                con.executemany(
                    """INSERT INTO spool_instance (sop_instance_uid, partition_key, study_uid, series_uid,
                           sop_class_uid, path, sha256, size_bytes, source, calling_ae_title,
                           received_at, state)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,'received')
                       ON CONFLICT(sop_instance_uid) DO UPDATE SET
                           partition_key=excluded.partition_key, study_uid=excluded.study_uid,
                           series_uid=excluded.series_uid, sop_class_uid=excluded.sop_class_uid,
                           path=excluded.path, sha256=excluded.sha256, size_bytes=excluded.size_bytes,
                           source=excluded.source, calling_ae_title=excluded.calling_ae_title,
                           received_at=excluded.received_at, state='received', state_reason=NULL""",
                    [
                        (
                            record.sop_instance_uid,
                            record.partition_key,
                            record.study_uid,
                            record.series_uid,
                            record.sop_class_uid,
                            str(record.path),
                            record.sha256,
                            record.size_bytes,
                            record.source,
                            record.calling_ae_title,
                            record.received_at,
                        )
                        for record in records
                    ],
                )
        except sqlite3.Error as exc:
            first = records[0].path.name
            what = first if len(records) == 1 else f"{len(records)} files from {first}"
            raise SpoolWriteError(f"{what}: stored but not indexed: {exc}") from exc

    # -- queries used by downstream stages ----------------------------------------------------------------
    def instances(
        self, partition_key: str, *, states: Sequence[str] = ("received", "released")
    ) -> list[SpoolRecord]:
        """The partition's spool rows (ordered by study, series, SOP UID), files that still exist only."""
        marks = ",".join("?" * len(states))
        rows = self._connection().execute(
            f"""SELECT * FROM spool_instance WHERE partition_key = ? AND state IN ({marks})
                ORDER BY study_uid, series_uid, sop_instance_uid""",
            (partition_key, *states),
        )
        return [self._record(r) for r in rows]

    def set_state(self, sop_instance_uids: Sequence[str], state: str, reason: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown spool state {state!r}")
        with self.connect() as con:
            con.executemany(
                "UPDATE spool_instance SET state = ?, state_reason = ? WHERE sop_instance_uid = ?",
                [(state, reason, uid) for uid in sop_instance_uids],
            )

    def sweep_partial_files(self) -> int:
        """Remove ``.part`` files left by a crash mid-write; returns how many were removed."""
        removed = 0
        for part in self.root.rglob(".*.part"):
            with contextlib.suppress(OSError):
                part.unlink()
                removed += 1
        return removed

    def purge(self, *, older_than: dt.timedelta, states: Sequence[str] = ("released", "quarantined")) -> int:
        """Delete spool files whose instances were released or quarantined longer ago than ``older_than``."""
        cutoff = (dt.datetime.now(dt.UTC) - older_than).isoformat(timespec="microseconds")
        marks = ",".join("?" * len(states))
        rows = (
            self._connection()
            .execute(
                "SELECT sop_instance_uid, path FROM spool_instance"
                f" WHERE state IN ({marks}) AND received_at < ?",
                (*states, cutoff),
            )
            .fetchall()
        )
        for row in rows:
            with contextlib.suppress(FileNotFoundError):
                Path(row["path"]).unlink()
        self.set_state([r["sop_instance_uid"] for r in rows], "purged")
        return len(rows)

    @staticmethod
    def _record(row: sqlite3.Row) -> SpoolRecord:
        return SpoolRecord(
            sop_instance_uid=row["sop_instance_uid"],
            partition_key=row["partition_key"],
            study_uid=row["study_uid"],
            series_uid=row["series_uid"],
            sop_class_uid=row["sop_class_uid"],
            path=Path(row["path"]),
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            source=row["source"],
            received_at=row["received_at"],
            state=row["state"],
            calling_ae_title=row["calling_ae_title"],
            state_reason=row["state_reason"],
        )
