"""Indexing and retrieval against the demo PACS (fast; real pynetdicom associations on loopback)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.dicom_network.errors import AbortAssociation
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.errors import (
    OutsideAllowedWindowError,
    PacsError,
    PacsRefusedError,
    PacsUnavailableError,
    RetrievalIncompleteError,
)
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalSummary
from resources.pacs.selection import StudySelector
from resources.pacs.storage_scp import SpoolWriter
from resources.pacs.study_index import index_partition, read_partition_index
from resources.site_config import TimeWindow
from resources.spool import SpoolStore
from tests.dicom_builder import write_study
from tests.peers import free_port
from tests.retrieval.conftest import LAKE_AE, PARTITION, Archive, RunningDemo
from tests.retrieval.spool_tables import spool_tables

CT_ONLY = StudySelector(modalities=["CT"])


def _index(demo: RunningDemo, spool: SpoolStore, selector: StudySelector = CT_ONLY, **kwargs: Any) -> Any:
    with PacsQuerier(demo.peer, demo.network) as querier:
        return index_partition(querier, spool, PARTITION, selector, **kwargs)


def _retrieve(
    demo: RunningDemo, spool: SpoolStore, writer: SpoolWriter | None = None, **options: Any
) -> RetrievalSummary:
    retriever = PartitionRetriever(
        demo.peer,
        demo.network,
        demo.options(**options),
        spool,
        PARTITION,
        writer=writer,
        sleep=lambda s: None,
    )
    return retriever.retrieve(read_partition_index(spool, PARTITION))


def _spool_uids(spool: SpoolStore) -> list[str]:
    return [r.sop_instance_uid for r in spool.instances(PARTITION)]


def metadata_expectation(archive: Archive) -> set[str]:
    """Dose SRs + first image of each series; for the CT study without RDSR also the last image."""
    expected: set[str] = set()
    for study in (archive.with_rdsr, archive.without_rdsr):
        for series_uid, uids in study.series.items():
            if series_uid in study.other_sr_series:
                continue
            if series_uid in study.dose_series:
                expected.update(uids)
                continue
            expected.add(uids[0])
            if not study.dose_series:
                expected.add(uids[-1])
    return expected


def test_index_records_selected_studies_and_a_rerun_replaces_the_rows(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    summary = _index(demo, spool)
    assert summary.studies_found == 3  # the other day's study is not in this partition
    assert summary.studies_selected == 2
    assert summary.skipped_reasons == {"no selected modality": 1}
    assert summary.dose_report_series == 1
    summary = _index(demo, spool)
    with spool_tables(spool) as con:
        studies = con.execute(
            "SELECT count(*) FROM indexed_study WHERE partition_key = ?", (PARTITION,)
        ).fetchone()
        series = con.execute(
            "SELECT count(*) FROM indexed_series WHERE partition_key = ?", (PARTITION,)
        ).fetchone()
        dose = con.execute("SELECT series_uid FROM indexed_series WHERE is_dose_report = 1").fetchall()
    assert studies[0] == 3
    assert series[0] == sum(len(s.series) for s in archive.partition_studies)
    assert [r[0] for r in dose] == archive.with_rdsr.dose_series


def test_cohort_mode_queries_the_listed_accession_numbers_only(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    summary = _index(demo, spool, cohort=["ACC00002", "ACC00004", "NOPE"], cohort_key="accession_number")
    # ACC00004 is a study of another day: a cohort is matched together with the partition's date.
    assert summary.studies_found == 1
    assert [s.study_uid for s in read_partition_index(spool, PARTITION)] == [archive.without_rdsr.study_uid]


def test_metadata_policy_fetches_dose_srs_first_images_and_last_ct_image_without_rdsr(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    summary = _retrieve(demo, spool, policy="metadata")
    expected = metadata_expectation(archive)
    assert set(_spool_uids(spool)) == expected
    assert summary.instances_retrieved == len(expected) == summary.instances_expected
    assert summary.instances_failed == 0
    for record in spool.instances(PARTITION):  # files are valid Part 10 files with their UIDs
        ds = dcmread(record.path, stop_before_pixels=True)
        assert ds.SOPInstanceUID == record.sop_instance_uid
        assert ds.file_meta.MediaStorageSOPInstanceUID == record.sop_instance_uid
        assert ds.SeriesInstanceUID == record.series_uid


def test_image_level_queries_ask_sop_class_only_where_it_is_needed(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    """SR series (dose report or not) and C-GET need the SOP class; C-MOVE of image series does not."""
    for method in ("move", "get"):
        spool = SpoolStore(tmp_path / f"spool-{method}", fsync=False)
        _index(demo, spool)
        demo.pacs.find_keys.clear()
        _retrieve(demo, spool, policy="metadata", method=method)
        image_queries = [keys for level, keys in demo.pacs.find_keys if level == "IMAGE"]
        assert image_queries and all("SOPInstanceUID" in keys for keys in image_queries)
        with_class = sum("SOPClassUID" in keys for keys in image_queries)
        if method == "get":
            assert with_class == len(image_queries)
        else:
            image_series = sum(
                1
                for study in (archive.with_rdsr, archive.without_rdsr)
                for uid in study.series
                if uid not in study.dose_series and uid not in study.other_sr_series
            )
            assert len(image_queries) - with_class == image_series


def test_full_retrieval_then_rerun_moves_nothing_new(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    first = _retrieve(demo, spool, policy="full")
    wanted = {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}
    assert set(_spool_uids(spool)) == wanted
    assert first.instances_retrieved == len(wanted)
    moves_before = demo.pacs.moves_served
    second = _retrieve(demo, spool, policy="full")
    assert second.instances_retrieved == 0
    assert second.instances_already_present == len(wanted)
    assert demo.pacs.moves_served == moves_before
    assert len(_spool_uids(spool)) == len(wanted)


def test_metadata_then_full_moves_only_the_missing_instances(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    meta = _retrieve(demo, spool, policy="metadata")
    full = _retrieve(demo, spool, policy="full")
    total = len({uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids})
    assert full.instances_already_present == meta.instances_retrieved
    assert full.instances_retrieved == total - meta.instances_retrieved


def test_c_get_retrieves_the_same_instances_as_c_move(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    summary = _retrieve(demo, spool, policy="metadata", method="get")
    assert summary.method == "get"
    assert set(_spool_uids(spool)) == metadata_expectation(archive)


def test_concurrent_moves_received_in_process_retrieve_everything_once(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    # Receiving processes (the default with several moves) have their own tests.
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    summary = _retrieve(demo, spool, policy="full", concurrent_moves=2, receiving_processes=0)
    wanted = {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}
    assert summary.instances_retrieved == len(wanted)
    assert sorted(_spool_uids(spool)) == sorted(wanted)


class AbortingWriter(SpoolWriter):
    """Stores ``limit`` instances, then aborts the sending association (a move interrupted midway)."""

    def __init__(self, spool: SpoolStore, limit: int) -> None:
        super().__init__(spool, PARTITION)
        self.limit = limit
        self.calls = 0

    def receive(
        self, encoded: bytes | Sequence[bytes], sop_instance_uid: str, sop_class_uid: str, calling_ae: str
    ) -> int:
        self.calls += 1
        if self.calls > self.limit:
            raise AbortAssociation("test: abort the sub-association")
        return super().receive(encoded, sop_instance_uid, sop_class_uid, calling_ae)


class FlakyWriter(SpoolWriter):
    """Refuses each instance the first time it is offered (a sub-operation failure), then accepts."""

    def __init__(self, spool: SpoolStore, refuse: set[str]) -> None:
        super().__init__(spool, PARTITION)
        self.refuse = set(refuse)

    def receive(
        self, encoded: bytes | Sequence[bytes], sop_instance_uid: str, sop_class_uid: str, calling_ae: str
    ) -> int:
        if sop_instance_uid in self.refuse:
            self.refuse.discard(sop_instance_uid)
            return 0xA700
        return super().receive(encoded, sop_instance_uid, sop_class_uid, calling_ae)


def test_interrupted_move_is_recorded_and_completed_by_the_next_run_without_duplicates(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    wanted = {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}
    # The PACS either reports the failed sub-operations or, its sub-association gone, never answers
    # the move (a timeout): both leave a partial study that the next run completes.
    quick = RunningDemo(
        demo.pacs,
        demo.peer,
        dataclasses.replace(demo.network, dimse_timeout_s=3, network_timeout_s=3),
        demo.lake_port,
    )
    with pytest.raises((RetrievalIncompleteError, PacsUnavailableError)) as caught:
        _retrieve(quick, spool, writer=AbortingWriter(spool, limit=4), policy="full", max_retries=0)
    assert "are kept" in str(caught.value)
    kept = set(_spool_uids(spool))
    assert 0 < len(kept) < len(wanted)
    with spool_tables(spool) as con:
        failures = con.execute(
            "SELECT count(*) FROM retrieval_failure WHERE partition_key = ?", (PARTITION,)
        ).fetchone()[0]
    assert 0 < failures <= len(wanted) - len(kept)  # what failed is recorded (never what arrived)
    second = _retrieve(demo, spool, policy="full")
    assert second.instances_already_present == len(kept)
    assert second.instances_retrieved == len(wanted) - len(kept)
    uids = _spool_uids(spool)
    assert sorted(uids) == sorted(wanted)  # every instance once, none twice
    with spool_tables(spool) as con:
        assert con.execute("SELECT count(*) FROM retrieval_failure").fetchone()[0] == 0


def test_failed_sub_operations_are_retried_within_the_run(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    refused = {archive.with_rdsr.sop_uids[1], archive.without_rdsr.sop_uids[3]}
    summary = _retrieve(demo, spool, writer=FlakyWriter(spool, refused), policy="full", max_retries=2)
    assert summary.retries == 2  # one retry per study with a failure, each moving only what failed
    assert refused <= set(_spool_uids(spool))
    assert summary.instances_failed == 0


def test_pacs_that_is_down_fails_after_bounded_retries(
    tmp_path: Path, archive: Archive, demo: RunningDemo
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    down = PeerAddress("127.0.0.1", free_port(), "DEMO_PACS", LAKE_AE)
    sleeps: list[float] = []
    retriever = PartitionRetriever(
        down,
        demo.network,
        demo.options(max_retries=2, retry_backoff_s=1.5),
        spool,
        PARTITION,
        sleep=sleeps.append,
    )
    with pytest.raises(PacsUnavailableError, match="gave up after 3 attempts"):
        retriever.retrieve(read_partition_index(spool, PARTITION))
    assert sleeps == [1.5, 3.0]  # exponential backoff, bounded


@pytest.mark.parametrize("engine", ["native", "pynetdicom"])
def test_pacs_refusing_our_ae_title_gives_a_clear_error(
    tmp_path: Path, archive: Archive, engine: str
) -> None:
    with DemoPacs(archive.folder, "DEMO_PACS", allowed_calling_ae_titles={"SOMEONE_ELSE"}) as pacs:
        peer = PeerAddress("127.0.0.1", pacs.port, "DEMO_PACS", LAKE_AE)
        options = NetworkOptions(
            acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10, scu_engine=engine
        )
        with (
            pytest.raises(
                PacsRefusedError, match=r"rejected the association .*register our AE title"
            ) as caught,
            PacsQuerier(peer, options) as querier,
        ):
            querier.find_studies(study_date="20261109")
        assert "calling ae title not recognised" in str(caught.value).lower()


def test_outside_allowed_window_fails_before_touching_the_pacs(demo: RunningDemo, tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    windows = (TimeWindow(start=dt.time(1, 0), end=dt.time(2, 0)),)
    retriever = PartitionRetriever(
        demo.peer,
        demo.network,
        demo.options(allowed_windows=windows),
        spool,
        PARTITION,
        now=lambda: dt.datetime(2026, 11, 9, 12, 0),
    )
    with pytest.raises(OutsideAllowedWindowError):
        retriever.retrieve(read_partition_index(spool, PARTITION))
    assert spool.instances(PARTITION) == []


def test_sr_series_without_image_level_answer_are_retrieved_whole(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    study = write_study(folder, key=7, image_series=1, images_per_series=3, with_other_sr=True)
    lake_port = free_port()
    with DemoPacs(
        folder, "QUIRKY", known_destinations={LAKE_AE: ("127.0.0.1", lake_port)}, image_level_for_sr=False
    ) as pacs:
        from tests.retrieval.conftest import RunningDemo as Demo

        options = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10)
        demo = Demo(pacs, PeerAddress("127.0.0.1", pacs.port, "QUIRKY", LAKE_AE), options, lake_port)
        spool = SpoolStore(tmp_path / "spool", fsync=False)
        summary = _index(demo, spool, selector=StudySelector(modalities=["CT"]))
        assert summary.sr_series_without_image_answer == 2
        _retrieve(demo, spool, policy="metadata")
    sr_uids = {uid for s in study.dose_series + study.other_sr_series for uid in study.series[s]}
    image_first = study.series[f"{study.study_uid}.1"][0]
    assert set(_spool_uids(spool)) == sr_uids | {image_first}


def test_storage_port_in_use_gives_a_clear_error(demo: RunningDemo, tmp_path: Path) -> None:
    import socket

    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", demo.lake_port))
        holder.listen()
        with pytest.raises(PacsError, match=r"could not listen on 127\.0\.0\.1:\d+"):
            _retrieve(demo, spool, policy="metadata")
