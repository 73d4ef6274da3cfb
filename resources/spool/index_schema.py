"""The spool index (``index.sqlite`` beside the files): its tables and the connections to it.

Tables
------
``spool_instance``
    One row per received instance (:class:`~resources.spool.records.SpoolRecord`); the only record
    of what has already been received, which makes retrieval resumable and reruns idempotent.
``indexed_study``, ``indexed_series``
    What the PACS holds for a partition, as the index stage found and selected it.
``retrieval_failure``
    What a retrieval could not get, with the reason and the number of attempts (a report only:
    planning never reads it).

The schema is created on open (``CREATE ... IF NOT EXISTS``), so an older index gains new tables
without a migration step; columns added since a table was first created (:data:`ADDED_COLUMNS`) are
added on open too, each ``ALTER TABLE ... ADD COLUMN`` guarded by a look at the table's columns.
Only the modules of :mod:`resources.spool` run SQL on it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
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

# (table, column, declaration) added after the table first shipped; an older index gains them on open.
ADDED_COLUMNS = (
    # Re-sends of a known SOP Instance UID (the file is replaced; these make it visible).
    ("spool_instance", "resend_count", "INTEGER NOT NULL DEFAULT 0"),
    ("spool_instance", "last_resent_at", "TEXT"),
    # When the row was last committed for a new receipt: usually the receipt time, later when the
    # row was indexed behind (journal replay, a spool that was failing). The arrivals sensor's
    # watermark follows it, so a row indexed late is not left below the watermark.
    ("spool_instance", "indexed_at", "TEXT"),
)
# Filled for rows older than their column (an index from before ``indexed_at``).
BACKFILL = {("spool_instance", "indexed_at"): "UPDATE spool_instance SET indexed_at = received_at"}
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS ix_spool_instance_resent ON spool_instance(last_resent_at)
    WHERE resend_count > 0;
CREATE INDEX IF NOT EXISTS ix_spool_instance_indexed ON spool_instance(source, indexed_at);
"""


def _add_missing_columns(con: sqlite3.Connection) -> None:
    # Inside one write transaction, so two processes opening an old index add each column once.
    con.execute("BEGIN IMMEDIATE")
    try:
        for table, column, declaration in ADDED_COLUMNS:
            present = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                if (table, column) in BACKFILL:
                    con.execute(BACKFILL[(table, column)])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class SpoolIndexDatabase:
    """Connections to the spool index, one per thread (SQLite WAL: shared by threads and processes).

    Parameters
    ----------
    path
        The index file; it and its tables are created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        # executescript manages its own transaction, so it runs outside transaction().
        con = self.connection()
        con.executescript(SCHEMA)
        _add_missing_columns(con)
        con.executescript(ADDED_INDEXES)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, in autocommit mode (each read sees the latest commit)."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        con = self.connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        try:
            con.execute("COMMIT")
        except sqlite3.Error:
            # A COMMIT refused (disk full) can leave the transaction open, holding the write lock.
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
