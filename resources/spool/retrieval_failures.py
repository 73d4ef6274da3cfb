"""The ``retrieval_failure`` table: what a PACS retrieval could not get, and why.

A report for people (how many attempts, the last reason); planning never reads it, so an instance
lost in a crash before it was indexed is simply moved again by the next run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from resources.spool.errors import SpoolWriteError
from resources.spool.index_schema import SpoolIndexDatabase
from resources.spool.records import utc_now


def record_failures(
    index: SpoolIndexDatabase,
    partition_key: str,
    study_uid: str,
    missing: Sequence[tuple[str, str]],
    reason: str,
) -> None:
    """Record (or count one more attempt for) each missing ``(series UID, SOP Instance UID)``.

    An empty UID stands for "the whole series" or "the whole study".

    Raises
    ------
    SpoolWriteError
        When the index cannot be written (disk full, read-only).
    """
    now = utc_now()
    rows = [(partition_key, study_uid, series_uid, sop_uid, reason, now) for series_uid, sop_uid in missing]
    try:
        with index.transaction() as con:
            con.executemany(
                """INSERT INTO retrieval_failure (partition_key, study_uid, series_uid, sop_instance_uid,
                       reason, attempts, last_attempt_at) VALUES (?,?,?,?,?,1,?)
                   ON CONFLICT(study_uid, series_uid, sop_instance_uid) DO UPDATE SET
                       reason=excluded.reason, attempts=attempts+1,
                       last_attempt_at=excluded.last_attempt_at""",
                rows,
            )
    except sqlite3.Error as exc:
        raise SpoolWriteError(f"{index.path}: retrieval failures not recorded: {exc}") from exc


def clear_failures(index: SpoolIndexDatabase, study_uid: str) -> None:
    """Forget the study's failures (it is complete now).

    Raises
    ------
    SpoolWriteError
        When the index cannot be written (disk full, read-only).
    """
    try:
        with index.transaction() as con:
            con.execute("DELETE FROM retrieval_failure WHERE study_uid = ?", (study_uid,))
    except sqlite3.Error as exc:
        raise SpoolWriteError(f"{index.path}: failures of study {study_uid} not cleared: {exc}") from exc
