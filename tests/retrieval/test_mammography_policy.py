"""The metadata policy fetches every image of a mammography series (each carries its own exposure), on the
demo PACS with a generated MG corpus; what that costs against full retrieval is measured and printed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus
from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary
from resources.pacs.selection import StudySelector
from resources.pacs.study_index import index_partition, read_partition_index
from resources.spool import SpoolStore
from tests.peers import free_port

LAKE_AE = "DICOM_LAKE"
DAY = dt.date(2026, 11, 9)


@pytest.fixture(scope="module")
def mg_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    folder = tmp_path_factory.mktemp("mg_archive")
    spec = CorpusSpec(
        seed=7, n_studies=12, days=1, start_date=DAY, plant_phi=False, ct_images_per_series=3, mg_fraction=0.5
    )
    return folder, generate_corpus(folder, spec)


@pytest.fixture()
def pacs(mg_archive: tuple[Path, CorpusManifest]) -> Iterator[tuple[PeerAddress, int]]:
    lake_port = free_port()
    demo = DemoPacs(
        mg_archive[0],
        "DEMO_PACS",
        known_destinations={LAKE_AE: ("127.0.0.1", lake_port)},
        options=NetworkOptions(acse_timeout_s=5, dimse_timeout_s=5, network_timeout_s=5),
    )
    port = demo.start()
    try:
        yield PeerAddress("127.0.0.1", port, "DEMO_PACS", LAKE_AE), lake_port
    finally:
        demo.stop()


def retrieve(pacs: tuple[PeerAddress, int], folder: Path, policy: str) -> tuple[RetrievalSummary, SpoolStore]:
    peer, lake_port = pacs
    network = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10)
    spool = SpoolStore(folder, fsync=False)
    with PacsQuerier(peer, network) as querier:
        index_partition(querier, spool, DAY.isoformat(), StudySelector(modalities=["MG"]))
    options = RetrievalOptions(
        policy=policy,  # type: ignore[arg-type]
        move_destination_ae_title=LAKE_AE,
        storage_scp_port=lake_port,
        retry_backoff_s=0.0,
    )
    retriever = PartitionRetriever(peer, network, options, spool, DAY.isoformat(), sleep=lambda s: None)
    return retriever.retrieve(read_partition_index(spool, DAY.isoformat())), spool


def test_metadata_policy_fetches_every_mg_image_and_costs_what_full_retrieval_does(
    pacs: tuple[PeerAddress, int], mg_archive: tuple[Path, CorpusManifest], tmp_path: Path
) -> None:
    manifest = mg_archive[1]
    mg_uids = {
        uid
        for study in manifest.studies
        if study["modality"] == "MG"
        for series in study["series"]
        for uid in series["sop_uids"]
    }
    assert mg_uids
    metadata, meta_spool = retrieve(pacs, tmp_path / "meta", "metadata")
    full, full_spool = retrieve(pacs, tmp_path / "full", "full")
    got = {r.sop_instance_uid for r in meta_spool.instances(DAY.isoformat())}
    assert got == mg_uids == {r.sop_instance_uid for r in full_spool.instances(DAY.isoformat())}
    assert metadata.instances_failed == 0 and metadata.instances_retrieved == len(mg_uids)
    assert metadata.bytes_retrieved == full.bytes_retrieved
    print(
        f"MG studies: metadata {metadata.instances_retrieved} instances {metadata.bytes_retrieved} B "
        f"{metadata.seconds:.3f} s; full {full.instances_retrieved} instances {full.bytes_retrieved} B "
        f"{full.seconds:.3f} s"
    )
