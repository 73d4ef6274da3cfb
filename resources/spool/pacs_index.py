"""The ``indexed_study`` and ``indexed_series`` tables: what the PACS holds for a partition.

The index stage records every study it found for a partition date (selected or not, with the
reason) and their series; the retrieval stage reads back the selected ones. Multi-valued fields
(modalities, station names) are stored as DICOM writes them, joined with a backslash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resources.spool.index_schema import SpoolIndexDatabase
from resources.spool.records import utc_now


@dataclass(frozen=True)
class PacsStudyEntry:
    """One study as the index stage records it, with the selection decision."""

    study_uid: str
    accession_number: str | None
    study_date: str | None
    study_time: str | None
    modalities: tuple[str, ...]
    study_description: str | None
    station_names: tuple[str, ...]
    n_series: int | None
    n_instances: int | None
    selected: bool
    selection_reason: str


@dataclass(frozen=True)
class PacsSeriesEntry:
    """One series of an indexed study, with whether it is a radiation dose report."""

    series_uid: str
    study_uid: str
    modality: str | None
    series_number: int | None
    series_description: str | None
    station_name: str | None
    sop_class_uid: str | None
    n_instances: int | None
    is_dose_report: bool


@dataclass(frozen=True)
class IndexedSeries:
    """A series of a selected study, as read back for planning the retrieval."""

    series_uid: str
    study_uid: str
    modality: str | None
    series_number: int | None
    series_description: str | None
    sop_class_uid: str | None
    n_instances: int | None
    is_dose_report: bool


@dataclass(frozen=True)
class IndexedStudy:
    """A selected study with its series, as read back for planning the retrieval."""

    study_uid: str
    modalities: tuple[str, ...]
    n_instances: int | None
    series: tuple[IndexedSeries, ...]


def replace_partition(
    index: SpoolIndexDatabase,
    partition_key: str,
    studies: Sequence[PacsStudyEntry],
    series: Sequence[PacsSeriesEntry],
) -> None:
    """Replace the partition's study and series rows with these, in one transaction."""
    now = utc_now()
    study_rows = [
        (
            s.study_uid,
            partition_key,
            s.accession_number,
            s.study_date,
            s.study_time,
            "\\".join(s.modalities),
            s.study_description,
            "\\".join(s.station_names) or None,
            s.n_series,
            s.n_instances,
            int(s.selected),
            s.selection_reason,
            now,
        )
        for s in studies
    ]
    series_rows = [
        (
            s.series_uid,
            s.study_uid,
            partition_key,
            s.modality,
            s.series_number,
            s.series_description,
            s.station_name,
            s.sop_class_uid,
            s.n_instances,
            int(s.is_dose_report),
            now,
        )
        for s in series
    ]
    with index.transaction() as con:
        con.execute("DELETE FROM indexed_series WHERE partition_key = ?", (partition_key,))
        con.execute("DELETE FROM indexed_study WHERE partition_key = ?", (partition_key,))
        con.executemany(
            """INSERT OR REPLACE INTO indexed_study (study_uid, partition_key, accession_number, study_date,
                   study_time, modalities, study_description, station_name, n_series, n_instances,
                   selected, selection_reason, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            study_rows,
        )
        con.executemany(
            """INSERT OR REPLACE INTO indexed_series (series_uid, study_uid, partition_key, modality,
                   series_number, series_description, station_name, sop_class_uid, n_instances,
                   is_dose_report, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            series_rows,
        )


def study_count(index: SpoolIndexDatabase, partition_keys: Sequence[str]) -> int:
    """How many studies the PACS index holds for the partitions (selected or not)."""
    if not partition_keys:
        return 0
    marks = ",".join("?" * len(partition_keys))
    row = (
        index.connection()
        .execute(
            f"SELECT count(*) FROM indexed_study WHERE partition_key IN ({marks})", tuple(partition_keys)
        )
        .fetchone()
    )
    return int(row[0])


def study_partitions(index: SpoolIndexDatabase, study_uids: Sequence[str]) -> dict[str, str]:
    """The partition each of these studies is indexed under, where it is."""
    found: dict[str, str] = {}
    con = index.connection()
    for start in range(0, len(study_uids), 500):  # SQLite's bound-parameter limit
        chunk = tuple(study_uids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows = con.execute(
            f"SELECT study_uid, partition_key FROM indexed_study WHERE study_uid IN ({marks})", chunk
        )
        found.update((row[0], row[1]) for row in rows)
    return found


def selected_studies(index: SpoolIndexDatabase, partition_key: str) -> list[IndexedStudy]:
    """The partition's selected studies (by study UID) with their series (by series number)."""
    # One transaction, so the series belong to the studies read even while a rerun replaces them.
    with index.transaction() as con:
        studies = con.execute(
            "SELECT study_uid, modalities, n_instances FROM indexed_study"
            " WHERE partition_key = ? AND selected = 1 ORDER BY study_uid",
            (partition_key,),
        ).fetchall()
        series = con.execute(
            "SELECT series_uid, study_uid, modality, series_number, series_description, sop_class_uid,"
            " n_instances, is_dose_report FROM indexed_series WHERE partition_key = ?"
            " ORDER BY study_uid, series_number, series_uid",
            (partition_key,),
        ).fetchall()
    by_study: dict[str, list[IndexedSeries]] = {}
    for row in series:
        by_study.setdefault(row["study_uid"], []).append(
            IndexedSeries(
                series_uid=row["series_uid"],
                study_uid=row["study_uid"],
                modality=row["modality"],
                series_number=row["series_number"],
                series_description=row["series_description"],
                sop_class_uid=row["sop_class_uid"],
                n_instances=row["n_instances"],
                is_dose_report=bool(row["is_dose_report"]),
            )
        )
    return [
        IndexedStudy(
            study_uid=row["study_uid"],
            modalities=tuple(m for m in (row["modalities"] or "").split("\\") if m),
            n_instances=row["n_instances"],
            series=tuple(by_study.get(row["study_uid"], [])),
        )
        for row in studies
    ]
