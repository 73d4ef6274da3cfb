"""Retrieval against real archives: Orthanc (Debian ``orthanc``) and dcmtk's stricter ``dcmqrscp``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.dicom_network.association import NetworkOptions, PeerAddress, echo
from resources.pacs.errors import PacsRefusedError, PacsUnavailableError, RetrievalIncompleteError
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary
from resources.pacs.selection import StudySelector
from resources.pacs.storage_scp import SpoolWriter
from resources.pacs.study_index import index_partition, read_partition_index
from resources.spool import SpoolStore
from tests.retrieval.conftest import PARTITION, Archive, build_archive
from tests.retrieval.spool_tables import spool_tables
from tests.retrieval.test_demo_retrieval import AbortingWriter, metadata_expectation

NETWORK = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=15, network_timeout_s=15)
CT_ONLY = StudySelector(modalities=["CT"])


class Pacs:
    """What a test needs to talk to a running archive."""

    def __init__(self, host_port: int, ae_title: str, lake_ae: str, lake_port: int) -> None:
        self.peer = PeerAddress("127.0.0.1", host_port, ae_title, lake_ae)
        self.lake_ae = lake_ae
        self.lake_port = lake_port

    def index(self, spool: SpoolStore) -> Any:
        with PacsQuerier(self.peer, NETWORK) as querier:
            return index_partition(querier, spool, PARTITION, CT_ONLY)

    def retrieve(
        self, spool: SpoolStore, writer: SpoolWriter | None = None, **overrides: Any
    ) -> RetrievalSummary:
        values: dict[str, Any] = {
            "move_destination_ae_title": self.lake_ae,
            "storage_scp_port": self.lake_port,
            "retry_backoff_s": 0.0,
        }
        values.update(overrides)
        retriever = PartitionRetriever(
            self.peer,
            NETWORK,
            RetrievalOptions(**values),
            spool,
            PARTITION,
            writer=writer,
            sleep=lambda s: None,
        )
        return retriever.retrieve(read_partition_index(spool, PARTITION))


def _uids(spool: SpoolStore) -> list[str]:
    return [r.sop_instance_uid for r in spool.instances(PARTITION)]


def _selected_uids(archive: Archive) -> set[str]:
    return {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}


# -- Orthanc ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orthanc_archive(orthanc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pacs, Archive]]:
    archive = build_archive(tmp_path_factory.mktemp("orthanc-archive"))
    orthanc.peer.upload(p for p in archive.folder.rglob("*.dcm"))
    yield (
        Pacs(orthanc.peer.dicom_port, orthanc.peer.ae_title, orthanc.lake_ae_title, orthanc.lake_port),
        archive,
    )


@pytest.mark.orthanc
def test_orthanc_echo_and_c_find_at_study_and_series_level(orthanc_archive: tuple[Pacs, Archive]) -> None:
    pacs, archive = orthanc_archive
    assert echo(pacs.peer, NETWORK) < 5
    with PacsQuerier(pacs.peer, NETWORK) as querier:
        studies = {s.study_uid: s for s in querier.find_studies(study_date="20261109")}
        assert set(studies) == {s.study_uid for s in archive.partition_studies}
        ct = studies[archive.with_rdsr.study_uid]
        assert ct.n_instances == len(archive.with_rdsr.sop_uids)
        assert set(ct.modalities) == {"CT", "SR"}
        series = querier.find_series(archive.with_rdsr.study_uid)
        assert {s.series_uid for s in series} == set(archive.with_rdsr.series)
        assert {s.modality for s in series} == {"CT", "SR"}


@pytest.mark.orthanc
def test_orthanc_metadata_retrieval_fetches_exactly_dose_srs_and_key_images(
    orthanc_archive: tuple[Pacs, Archive], tmp_path: Path
) -> None:
    pacs, archive = orthanc_archive
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    pacs.index(spool)
    summary = pacs.retrieve(spool, policy="metadata")
    assert set(_uids(spool)) == metadata_expectation(archive)
    assert summary.instances_retrieved == len(metadata_expectation(archive))


@pytest.mark.orthanc
def test_orthanc_full_retrieval_and_rerun_retrieves_nothing_new(
    orthanc_archive: tuple[Pacs, Archive], tmp_path: Path
) -> None:
    pacs, archive = orthanc_archive
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    pacs.index(spool)
    first = pacs.retrieve(spool, policy="full", concurrent_moves=2)
    assert set(_uids(spool)) == _selected_uids(archive)
    assert first.instances_retrieved == len(_selected_uids(archive))
    second = pacs.retrieve(spool, policy="full")
    assert (second.instances_retrieved, second.moves) == (0, 0)
    assert second.instances_already_present == len(_selected_uids(archive))


@pytest.mark.orthanc
def test_orthanc_c_get(orthanc_archive: tuple[Pacs, Archive], tmp_path: Path) -> None:
    pacs, archive = orthanc_archive
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    pacs.index(spool)
    summary = pacs.retrieve(spool, policy="full", method="get")
    assert summary.method == "get"
    assert set(_uids(spool)) == _selected_uids(archive)


@pytest.mark.orthanc
def test_orthanc_interrupted_move_is_completed_by_the_next_run_without_duplicates(
    orthanc_archive: tuple[Pacs, Archive], tmp_path: Path
) -> None:
    pacs, archive = orthanc_archive
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    pacs.index(spool)
    with pytest.raises((RetrievalIncompleteError, PacsUnavailableError)) as caught:
        pacs.retrieve(spool, writer=AbortingWriter(spool, limit=3), policy="full", max_retries=0)
    assert "are kept" in str(caught.value)
    kept = set(_uids(spool))
    assert 0 < len(kept) < len(_selected_uids(archive))
    second = pacs.retrieve(spool, policy="full")
    assert second.instances_retrieved == len(_selected_uids(archive)) - len(kept)
    assert sorted(_uids(spool)) == sorted(_selected_uids(archive))


@pytest.mark.orthanc
def test_orthanc_refusing_our_ae_title_gives_a_clear_error(orthanc_archive: tuple[Pacs, Archive]) -> None:
    pacs, _archive = orthanc_archive
    stranger = PeerAddress("127.0.0.1", pacs.peer.port, pacs.peer.called_ae_title, "STRANGER")
    with (
        pytest.raises(PacsRefusedError, match="STRANGER") as caught,
        PacsQuerier(stranger, NETWORK) as querier,
    ):
        querier.find_studies(study_date="20261109")
    assert "register" in str(caught.value)


# -- dcmqrscp (stricter: no ModalitiesInStudy, only the keys it knows) -------------------------------------
@pytest.fixture(scope="module")
def dcmqrscp_archive(dcmqrscp: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Pacs, Archive]:
    archive = build_archive(tmp_path_factory.mktemp("dcmqrscp-archive"))
    dcmqrscp.peer.load(sorted(archive.folder.rglob("*.dcm")))
    pacs = Pacs(dcmqrscp.peer.port, dcmqrscp.peer.ae_title, dcmqrscp.lake_ae_title, dcmqrscp.lake_port)
    # dcmqrscp serves each association from a forked child that updates the archive index: wait until
    # every stored series is visible before the tests query it.
    expected = sum(len(s.series) for s in archive.partition_studies)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with PacsQuerier(pacs.peer, NETWORK) as querier:
            seen = sum(len(querier.find_series(s.study_uid)) for s in archive.partition_studies)
        if seen == expected:
            break
        time.sleep(0.1)
    return pacs, archive


@pytest.mark.dcmtk
def test_dcmqrscp_index_falls_back_to_series_modalities_and_retrieves(
    dcmqrscp_archive: tuple[Pacs, Archive], tmp_path: Path
) -> None:
    pacs, archive = dcmqrscp_archive
    with PacsQuerier(pacs.peer, NETWORK) as querier:
        studies = querier.find_studies(study_date="20261109")
    assert {s.study_uid for s in studies} == {s.study_uid for s in archive.partition_studies}
    assert all(s.modalities == () for s in studies)  # dcmqrscp does not return ModalitiesInStudy
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    summary = pacs.index(spool)
    assert summary.studies_selected == 2  # CT selected from the series' modalities
    assert summary.series == sum(len(s.series) for s in archive.partition_studies)
    meta = pacs.retrieve(spool, policy="metadata")
    # dcmqrscp answers IMAGE level without SOP Class UID, so a non-dose SR cannot be ruled out and is
    # retrieved too ("when unsure, retrieve the SR series").
    with spool_tables(spool) as con:
        sr_classes = {
            r[0] for r in con.execute("SELECT sop_class_uid FROM indexed_series WHERE modality = 'SR'")
        }
    assert sr_classes == {None}
    other_sr = {uid for s in archive.with_rdsr.other_sr_series for uid in archive.with_rdsr.series[s]}
    assert set(_uids(spool)) == metadata_expectation(archive) | other_sr
    full = pacs.retrieve(spool, policy="full")
    assert full.instances_already_present == meta.instances_retrieved
    assert set(_uids(spool)) == _selected_uids(archive)
