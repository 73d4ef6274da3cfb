"""The ``spool_instance`` table: which instances the spool holds, in which state, since when.

Functions of :class:`~resources.spool.store.SpoolStore`'s index side; callers use the store's
methods, which name what they ask (``known_instances``, ``study_arrivals`` ...), never SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resources.spool.errors import SpoolWriteError
from resources.spool.index_schema import SpoolIndexDatabase
from resources.spool.records import STATES, SpoolRecord, utc_now

_UID_BATCH = 500  # SOP Instance UIDs per IN (...) look-up, well under SQLite's variable limit


@dataclass(frozen=True)
class StudyArrival:
    """One study's instances from one source indexed after a watermark, for one partition (times
    are those of indexing: see :func:`study_arrivals`)."""

    study_uid: str
    partition_key: str
    first_indexed_at: str
    last_indexed_at: str
    instances: int


def has_instance(index: SpoolIndexDatabase, sop_instance_uid: str) -> bool:
    row = (
        index.connection()
        .execute("SELECT 1 FROM spool_instance WHERE sop_instance_uid = ?", (sop_instance_uid,))
        .fetchone()
    )
    return row is not None


def known_instances(index: SpoolIndexDatabase, sop_instance_uids: Sequence[str] | None) -> set[str]:
    """SOP Instance UIDs not purged (all of them, or those of ``sop_instance_uids``)."""
    con = index.connection()
    if sop_instance_uids is None:
        return {
            r[0] for r in con.execute("SELECT sop_instance_uid FROM spool_instance WHERE state != 'purged'")
        }
    found: set[str] = set()
    uids = list(sop_instance_uids)
    for start in range(0, len(uids), _UID_BATCH):
        batch = uids[start : start + _UID_BATCH]
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


def record_instances(index: SpoolIndexDatabase, records: Sequence[SpoolRecord]) -> None:
    """Insert or replace the rows of written files, all in one transaction.

    A known SOP Instance UID received again (a different receipt time) counts as a re-send
    (``resend_count``, ``last_resent_at``); the same receipt recorded twice (a journal replay) does not.

    Raises
    ------
    SpoolWriteError
        If the index cannot be written (no row of the batch is recorded then).
    """
    indexed_at = utc_now()
    try:
        with index.transaction() as con:
            con.executemany(
                """INSERT INTO spool_instance (sop_instance_uid, partition_key, study_uid, series_uid,
                       sop_class_uid, path, sha256, size_bytes, source, calling_ae_title,
                       received_at, indexed_at, state)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'received')
                   ON CONFLICT(sop_instance_uid) DO UPDATE SET
                       partition_key=excluded.partition_key, study_uid=excluded.study_uid,
                       series_uid=excluded.series_uid, sop_class_uid=excluded.sop_class_uid,
                       path=excluded.path, sha256=excluded.sha256, size_bytes=excluded.size_bytes,
                       source=excluded.source, calling_ae_title=excluded.calling_ae_title,
                       indexed_at=CASE WHEN spool_instance.received_at != excluded.received_at
                           THEN excluded.indexed_at ELSE spool_instance.indexed_at END,
                       received_at=excluded.received_at, state='received', state_reason=NULL,
                       resend_count=spool_instance.resend_count
                           + (spool_instance.received_at != excluded.received_at),
                       last_resent_at=CASE WHEN spool_instance.received_at != excluded.received_at
                           THEN excluded.received_at ELSE spool_instance.last_resent_at END""",
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
                        indexed_at,
                    )
                    for record in records
                ],
            )
    except sqlite3.Error as exc:
        first = records[0].path.name
        what = first if len(records) == 1 else f"{len(records)} files from {first}"
        raise SpoolWriteError(f"{what}: stored but not indexed: {exc}") from exc


def receipts(index: SpoolIndexDatabase, sop_instance_uids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{SOP Instance UID: (received_at, state)}`` of those of ``sop_instance_uids`` the index holds."""
    con = index.connection()
    found: dict[str, tuple[str, str]] = {}
    uids = list(sop_instance_uids)
    for start in range(0, len(uids), _UID_BATCH):
        batch = uids[start : start + _UID_BATCH]
        marks = ",".join("?" * len(batch))
        for row in con.execute(
            "SELECT sop_instance_uid, received_at, state FROM spool_instance"
            f" WHERE sop_instance_uid IN ({marks})",
            batch,
        ):
            found[row[0]] = (row[1], row[2])
    return found


@dataclass(frozen=True)
class ResendSummary:
    """Instances received more than once: how many, how many re-sends in all, the latest one (ISO UTC)."""

    instances: int
    resends: int
    last_resent_at: str | None


def resend_summary(index: SpoolIndexDatabase, *, since: str | None) -> ResendSummary:
    """Re-sent instances whose last re-send is after ``since`` (ISO UTC; None: all of them)."""
    row = (
        index.connection()
        .execute(
            """SELECT count(*), coalesce(sum(resend_count), 0), max(last_resent_at) FROM spool_instance
               WHERE resend_count > 0 AND last_resent_at > ?""",
            (since or "",),
        )
        .fetchone()
    )
    return ResendSummary(instances=int(row[0]), resends=int(row[1]), last_resent_at=row[2])


def resent_instances(index: SpoolIndexDatabase, *, since: str | None, limit: int) -> list[SpoolRecord]:
    """The re-sent instances (last re-send after ``since``), newest re-send first, at most ``limit``."""
    rows = index.connection().execute(
        """SELECT * FROM spool_instance WHERE resend_count > 0 AND last_resent_at > ?
           ORDER BY last_resent_at DESC LIMIT ?""",
        (since or "", limit),
    )
    return [_record(r) for r in rows]


def partition_instances(
    index: SpoolIndexDatabase, partition_key: str, states: Sequence[str]
) -> list[SpoolRecord]:
    """The partition's rows in the given states, ordered by study, series and SOP Instance UID."""
    marks = ",".join("?" * len(states))
    rows = index.connection().execute(
        f"""SELECT * FROM spool_instance WHERE partition_key = ? AND state IN ({marks})
            ORDER BY study_uid, series_uid, sop_instance_uid""",
        (partition_key, *states),
    )
    return [_record(r) for r in rows]


def set_state(
    index: SpoolIndexDatabase, sop_instance_uids: Sequence[str], state: str, reason: str | None
) -> None:
    """Move instances to ``state`` (one of :data:`~resources.spool.records.STATES`).

    Raises
    ------
    ValueError
        If ``state`` is not a spool state.
    """
    if state not in STATES:
        raise ValueError(f"unknown spool state {state!r}")
    with index.transaction() as con:
        con.executemany(
            "UPDATE spool_instance SET state = ?, state_reason = ? WHERE sop_instance_uid = ?",
            [(state, reason, uid) for uid in sop_instance_uids],
        )


def received_before(index: SpoolIndexDatabase, states: Sequence[str], cutoff: str) -> list[tuple[str, Path]]:
    """(SOP Instance UID, file) of the instances in ``states`` received before ``cutoff`` (ISO UTC)."""
    marks = ",".join("?" * len(states))
    rows = (
        index.connection()
        .execute(
            f"SELECT sop_instance_uid, path FROM spool_instance WHERE state IN ({marks}) AND received_at < ?",
            (*states, cutoff),
        )
        .fetchall()
    )
    return [(row["sop_instance_uid"], Path(row["path"])) for row in rows]


def instance_count(index: SpoolIndexDatabase, *, column: str, uid: str) -> int:
    """How many rows (in any state) have ``column`` (``study_uid`` or ``series_uid``) equal to ``uid``.

    Raises
    ------
    ValueError
        If ``column`` is neither ``study_uid`` nor ``series_uid``.
    """
    if column not in ("study_uid", "series_uid"):
        raise ValueError(f"instances are counted by study_uid or series_uid, not {column!r}")
    row = (
        index.connection()
        .execute(f"SELECT count(*) FROM spool_instance WHERE {column} = ?", (uid,))
        .fetchone()
    )
    return int(row[0])


def partition_state_counts(index: SpoolIndexDatabase, partition_keys: Sequence[str]) -> dict[str, int]:
    """How many instances of the partitions are in each state (states with none are left out)."""
    if not partition_keys:
        return {}
    marks = ",".join("?" * len(partition_keys))
    rows = (
        index.connection()
        .execute(
            f"SELECT state, count(*) FROM spool_instance WHERE partition_key IN ({marks}) GROUP BY state",
            tuple(partition_keys),
        )
        .fetchall()
    )
    return {str(state): int(count) for state, count in rows}


def study_arrivals(index: SpoolIndexDatabase, *, source: str, after: str | None) -> list[StudyArrival]:
    """Instances from ``source`` indexed after ``after`` (ISO UTC), grouped by study and partition.

    Times are those of indexing (``indexed_at``): the receipt time, or later for a row indexed
    behind (a journal replay), so that such a row is above a watermark its receipt time is below.
    Ordered by the newest of each group.
    """
    rows = index.connection().execute(
        """SELECT study_uid, partition_key, min(indexed_at) AS first_at, max(indexed_at) AS last_at,
                  count(*) AS n
           FROM spool_instance
           WHERE source = ? AND indexed_at > ?
           GROUP BY study_uid, partition_key
           ORDER BY last_at""",
        (source, after or ""),
    )
    return [
        StudyArrival(
            study_uid=r["study_uid"],
            partition_key=r["partition_key"],
            first_indexed_at=r["first_at"],
            last_indexed_at=r["last_at"],
            instances=int(r["n"]),
        )
        for r in rows
    ]


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
        resend_count=row["resend_count"],
        last_resent_at=row["last_resent_at"],
    )
