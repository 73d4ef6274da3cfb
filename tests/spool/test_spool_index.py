"""The spool index behind the store's named methods: what the PACS holds, failures, arrivals, counts."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from resources.spool import SpoolStore
from resources.spool.pacs_index import IndexedSeries, PacsSeriesEntry, PacsStudyEntry
from resources.spool.records import SpoolRecord, utc_now
from tests.dicom_builder import CT_IMAGE, XRAY_DOSE_SR

PARTITION = "2026-11-09"


def study_entry(uid: str, *, selected: bool = True) -> PacsStudyEntry:
    return PacsStudyEntry(
        study_uid=uid,
        accession_number="A1",
        study_date="20261109",
        study_time=None,
        modalities=("CT", "SR"),
        study_description=None,
        station_names=("CT1", "CT2"),
        n_series=2,
        n_instances=6,
        selected=selected,
        selection_reason="selected" if selected else "no selected modality",
    )


def series_entry(study_uid: str, number: int, *, dose: bool = False) -> PacsSeriesEntry:
    return PacsSeriesEntry(
        series_uid=f"{study_uid}.{number}",
        study_uid=study_uid,
        modality="SR" if dose else "CT",
        series_number=number,
        series_description=None,
        station_name="CT1",
        sop_class_uid=XRAY_DOSE_SR if dose else None,
        n_instances=1 if dose else 5,
        is_dose_report=dose,
    )


def store_instance(spool: SpoolStore, sop: str, study: str, series: str, source: str = "pacs") -> None:
    spool.store(
        b"DICM",
        sop_instance_uid=sop,
        sop_class_uid=CT_IMAGE,
        study_uid=study,
        series_uid=series,
        partition_key=PARTITION,
        source=source,
    )


def test_an_index_rerun_replaces_the_partition_and_the_selected_studies_are_read_back(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    spool.record_pacs_studies(PARTITION, [study_entry("1.1"), study_entry("1.9")], [series_entry("1.1", 1)])
    spool.record_pacs_studies(
        PARTITION,
        [study_entry("1.2", selected=False), study_entry("1.1")],
        [series_entry("1.1", 2, dose=True), series_entry("1.1", 1)],
    )
    (study,) = spool.selected_pacs_studies(PARTITION)
    assert study.study_uid == "1.1"
    assert study.modalities == ("CT", "SR")
    assert study.n_instances == 6
    assert study.series == (
        IndexedSeries("1.1.1", "1.1", "CT", 1, None, None, 5, False),
        IndexedSeries("1.1.2", "1.1", "SR", 2, None, XRAY_DOSE_SR, 1, True),
    )
    assert spool.selected_pacs_studies("2026-11-10") == []


def test_retrieval_failures_count_attempts_and_are_cleared_per_study(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    spool.record_retrieval_failures(PARTITION, "1.1", [("1.1.1", "1.1.1.1"), ("1.1.2", "")], "timed out")
    spool.record_retrieval_failures(PARTITION, "1.1", [("1.1.1", "1.1.1.1")], "status 0xA702")
    spool.record_retrieval_failures(PARTITION, "1.2", [("", "")], "PACS unavailable")
    with contextlib.closing(sqlite3.connect(spool.index_path)) as con:
        rows = con.execute(
            "SELECT study_uid, series_uid, sop_instance_uid, reason, attempts FROM retrieval_failure"
            " ORDER BY study_uid, series_uid"
        ).fetchall()
    assert rows == [
        ("1.1", "1.1.1", "1.1.1.1", "status 0xA702", 2),
        ("1.1", "1.1.2", "", "timed out", 1),
        ("1.2", "", "", "PACS unavailable", 1),
    ]
    spool.clear_retrieval_failures("1.1")
    with contextlib.closing(sqlite3.connect(spool.index_path)) as con:
        assert con.execute("SELECT study_uid FROM retrieval_failure").fetchall() == [("1.2",)]


def test_instance_counts_and_arrivals_of_one_source(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    store_instance(spool, "1.1.1.1", "1.1", "1.1.1", source="listener")
    store_instance(spool, "1.1.1.2", "1.1", "1.1.1", source="listener")
    store_instance(spool, "1.1.2.1", "1.1", "1.1.2")
    store_instance(spool, "1.2.1.1", "1.2", "1.2.1", source="listener")
    assert spool.study_instance_count("1.1") == 3
    assert spool.series_instance_count("1.1.1") == 2
    assert spool.series_instance_count("9.9") == 0
    arrivals = spool.study_arrivals(source="listener", after=None)
    assert [(a.study_uid, a.instances) for a in arrivals] == [("1.1", 2), ("1.2", 1)]
    assert arrivals[0].first_indexed_at <= arrivals[0].last_indexed_at
    later = spool.study_arrivals(source="listener", after=arrivals[0].last_indexed_at)
    assert [a.study_uid for a in later] == ["1.2"]


def test_an_unknown_state_is_refused(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    with pytest.raises(ValueError, match="unknown spool state"):
        spool.set_state(["1.2.3"], "lost")


def test_partition_counts_read_per_state_and_per_partition(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    spool.record_pacs_studies(PARTITION, [study_entry("1.1"), study_entry("1.2", selected=False)], [])
    spool.record_pacs_studies("2026-11-10", [study_entry("2.1")], [])
    store_instance(spool, "1.1.1.1", "1.1", "1.1.1")
    store_instance(spool, "1.1.1.2", "1.1", "1.1.1")
    store_instance(spool, "1.1.1.3", "1.1", "1.1.1")
    spool.set_state(["1.1.1.2"], "quarantined", "unreadable")
    assert spool.partition_state_counts([PARTITION]) == {"received": 2, "quarantined": 1}
    assert spool.partition_state_counts(["2026-11-10"]) == {}
    assert spool.partition_state_counts([]) == {}
    assert spool.pacs_study_count([PARTITION]) == 2
    assert spool.pacs_study_count([PARTITION, "2026-11-10"]) == 3
    assert spool.pacs_study_count([]) == 0


def test_a_row_indexed_after_the_watermark_is_an_arrival_although_received_before_it(tmp_path: Path) -> None:
    # A journal replay (or a spool that was failing) indexes a row whose receipt time is older than
    # the arrivals already handed to a run: the sensor's watermark must not hide it.
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    store_instance(spool, "1.1.1.1", "1.1", "1.1.1", source="listener")
    old = spool.study_arrivals(source="listener", after=None)
    received_early = utc_now()  # before the next row's index time, and before the watermark below
    store_instance(spool, "1.2.1.1", "1.2", "1.2.1", source="listener")
    watermark = spool.study_arrivals(source="listener", after=None)[-1].last_indexed_at
    late = SpoolRecord(
        sop_instance_uid="1.3.1.1",
        partition_key=PARTITION,
        study_uid="1.3",
        series_uid="1.3.1",
        sop_class_uid=CT_IMAGE,
        path=spool.path_for(PARTITION, "1.3", "1.3.1.1"),
        sha256="",
        size_bytes=4,
        source="listener",
        received_at=received_early,
        calling_ae_title="MODALITY",
    )
    assert received_early < watermark
    spool.index_records([late])
    assert [a.study_uid for a in spool.study_arrivals(source="listener", after=watermark)] == ["1.3"]
    # The same receipt indexed again (a second replay) is not a new arrival.
    newest = spool.study_arrivals(source="listener", after=watermark)[-1].last_indexed_at
    spool.index_records([late])
    assert spool.study_arrivals(source="listener", after=newest) == []
    assert old[0].study_uid == "1.1"
