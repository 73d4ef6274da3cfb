"""The spool: the identifiable landing zone for instances received from the PACS or the listener.

Files are written atomically (temporary file in the same folder, fsync, rename, fsync of the folder),
so a reader never sees a partial file and a crash leaves at most a ``.part`` file that is ignored and
swept. Permissions are owner-only. Every received instance gets a row in the spool index
(``index.sqlite`` beside the files, :mod:`resources.spool.index_schema`): SOP/series/study UIDs,
partition, SHA-256, size, where it came from and its state. The index is the only record of what has
already been received, which is what makes retrieval resumable and reruns idempotent.

:class:`SpoolStore` is the one way in: every question and every change to the index is one of its
methods; the SQL behind them lives in :mod:`~resources.spool.instance_index`,
:mod:`~resources.spool.pacs_index` and :mod:`~resources.spool.retrieval_failures`.

The spool index is in the identifiable zone too (it holds source UIDs and descriptions); nothing from
it may be copied into logs or Dagster metadata except counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import resources.spool.instance_index as instance_index
import resources.spool.pacs_index as pacs_index
import resources.spool.retrieval_failures as retrieval_failures
from resources.spool.durability import flush_to_disk, write_atomically_sized
from resources.spool.errors import SpoolWriteError
from resources.spool.index_schema import SpoolIndexDatabase
from resources.spool.instance_index import ResendSummary, StudyArrival
from resources.spool.layout import instance_path
from resources.spool.pacs_index import IndexedStudy, PacsSeriesEntry, PacsStudyEntry
from resources.spool.records import SpoolRecord, utc_now
from resources.spool.source_adoption import adopt_date_keys


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
        self._index = SpoolIndexDatabase(self.index_path)

    def close(self) -> None:
        """Close this thread's connection to the index (the next call opens a new one)."""
        self._index.close()

    def adopt_date_keys(self, source: str, *, dry_run: bool = False) -> dict[str, int]:
        """Make the date-only partitions ``source``'s (resources/spool/source_adoption.py)."""
        return adopt_date_keys(self._index, self.root, source, dry_run=dry_run)

    # -- files ----------------------------------------------------------------------------------------
    def path_for(self, partition_key: str, study_uid: str, sop_instance_uid: str) -> Path:
        return instance_path(self._root_text, partition_key, study_uid, sop_instance_uid)

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

        Idempotent: a second copy of a known SOP Instance UID replaces the file and keeps one row, on
        which the re-send is counted (see :meth:`resend_summary`).

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
        received_at: str | None = None,
        sha256: str | None = None,
    ) -> SpoolRecord:
        """The file half of :meth:`store`: write atomically, but do not index (see :meth:`index_records`).

        With ``defer_sync`` neither the file nor its folder is fsynced: the file is still renamed into
        place only once complete (readers never see a partial file), but the caller must fsync the
        file, its folder (and the partition folder, when the study folder is new) before it indexes
        the record, so that an indexed instance always survives a crash. ``received_at`` (default:
        now) is the receipt time the record gets, and ``sha256`` the digest of ``data``, when the
        caller journaled it already.

        Raises
        ------
        SpoolWriteError
            If the file cannot be written; nothing half-written is left behind.
        """
        target = self.path_for(partition_key, study_uid, sop_instance_uid)
        sha256, size = write_atomically_sized(
            target, data, fsync=self.fsync and not defer_sync, sha256=sha256
        )
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
            received_at=received_at or utc_now(),
            calling_ae_title=calling_ae_title,
        )

    def make_durable(self, paths: Sequence[Path]) -> None:
        """Make files written with ``defer_sync`` (their folders) and every committed index row durable.

        Raises
        ------
        SpoolWriteError
            If the filesystem reports a write error.
        """
        index_files = [self.index_path, self.index_path.with_name(self.index_path.name + "-wal")]
        try:
            flush_to_disk(self.root, paths, index_files)
        except OSError as exc:
            raise SpoolWriteError(f"{self.root}: spool not flushed to disk: {exc.strerror or exc}") from exc

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
        expired = instance_index.received_before(self._index, states, cutoff)
        for _uid, path in expired:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.set_state([uid for uid, _path in expired], "purged")
        return len(expired)

    # -- received instances (spool_instance) ------------------------------------------------------------
    def index_records(self, records: Sequence[SpoolRecord]) -> None:
        """Record written files in the spool index, all in one transaction (idempotent per SOP UID).

        Raises
        ------
        SpoolWriteError
            If the index cannot be written (no row of the batch is recorded then).
        """
        if records:
            instance_index.record_instances(self._index, records)

    def receipts(self, sop_instance_uids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``{SOP Instance UID: (received_at, state)}`` for those the index holds (journal recovery)."""
        return instance_index.receipts(self._index, sop_instance_uids)

    def resend_summary(self, *, since: str | None = None) -> ResendSummary:
        """Instances received more than once (last re-send after ``since``, ISO UTC): counts and latest."""
        return instance_index.resend_summary(self._index, since=since)

    def resent_instances(self, *, since: str | None = None, limit: int = 100) -> list[SpoolRecord]:
        """The re-sent instances' rows (``resend_count``, ``last_resent_at``), newest re-send first."""
        return instance_index.resent_instances(self._index, since=since, limit=limit)

    def has_instance(self, sop_instance_uid: str) -> bool:
        return instance_index.has_instance(self._index, sop_instance_uid)

    def known_instances(self, sop_instance_uids: Sequence[str] | None = None) -> set[str]:
        """SOP Instance UIDs whose files are in the spool (purged ones are not: they may be fetched again)."""
        return instance_index.known_instances(self._index, sop_instance_uids)

    def study_instance_count(self, study_uid: str) -> int:
        """How many instances of the study the index has ever recorded (purged ones too)."""
        return instance_index.instance_count(self._index, column="study_uid", uid=study_uid)

    def series_instance_count(self, series_uid: str) -> int:
        """How many instances of the series the index has ever recorded (purged ones too)."""
        return instance_index.instance_count(self._index, column="series_uid", uid=series_uid)

    def instances(
        self, partition_key: str, *, states: Sequence[str] = ("received", "released")
    ) -> list[SpoolRecord]:
        """The partition's spool rows (ordered by study, series, SOP UID), files that still exist only."""
        return instance_index.partition_instances(self._index, partition_key, states)

    def set_state(self, sop_instance_uids: Sequence[str], state: str, reason: str | None = None) -> None:
        """Move instances to ``state`` (see :data:`~resources.spool.records.STATES`).

        Raises
        ------
        ValueError
            If ``state`` is not a spool state.
        """
        instance_index.set_state(self._index, sop_instance_uids, state, reason)

    def partition_state_counts(self, partition_keys: Sequence[str]) -> dict[str, int]:
        """Instances of the partitions per state (``received``, ``released``, ``quarantined``, ``purged``)."""
        return instance_index.partition_state_counts(self._index, partition_keys)

    def pacs_study_count(self, partition_keys: Sequence[str]) -> int:
        """How many studies the C-FIND index holds for the partitions."""
        return pacs_index.study_count(self._index, partition_keys)

    def study_arrivals(self, *, source: str, after: str | None) -> list[StudyArrival]:
        """Instances from ``source`` received after ``after`` (ISO UTC), grouped by study and partition."""
        return instance_index.study_arrivals(self._index, source=source, after=after)

    # -- what the PACS holds (indexed_study, indexed_series) ---------------------------------------------
    def pacs_study_partitions(self, study_uids: Sequence[str]) -> dict[str, str]:
        """The partition each of these studies is indexed under, where it is indexed at all."""
        return pacs_index.study_partitions(self._index, study_uids)

    def record_pacs_studies(
        self, partition_key: str, studies: Sequence[PacsStudyEntry], series: Sequence[PacsSeriesEntry]
    ) -> None:
        """Replace the partition's indexed studies and series with these, in one transaction."""
        pacs_index.replace_partition(self._index, partition_key, studies, series)

    def selected_pacs_studies(self, partition_key: str) -> list[IndexedStudy]:
        """The partition's selected studies with their series, as the index stage recorded them."""
        return pacs_index.selected_studies(self._index, partition_key)

    # -- what a retrieval could not get (retrieval_failure) ---------------------------------------------
    def record_retrieval_failures(
        self, partition_key: str, study_uid: str, missing: Sequence[tuple[str, str]], reason: str
    ) -> None:
        """Record each missing ``(series UID, SOP Instance UID)`` of a study ("" for a whole level)."""
        retrieval_failures.record_failures(self._index, partition_key, study_uid, missing, reason)

    def clear_retrieval_failures(self, study_uid: str) -> None:
        """Forget a study's recorded failures (it is complete now)."""
        retrieval_failures.clear_failures(self._index, study_uid)
