"""The PACS (a real Orthanc) SIGKILLed in the middle of a partition's C-MOVE, then restarted.

The partition must fail with an error of the PacsError family that names the peer, keep every instance
that arrived (index rows and files), and a rerun against the restarted Orthanc (same storage) must
complete it with nothing duplicated.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from pydicom import dcmread

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.errors import PacsError
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary
from resources.pacs.selection import StudySelector
from resources.pacs.spool_writer import SpoolWriter
from resources.pacs.study_index import index_partition, read_partition_index
from resources.spool import SpoolStore
from tests.dicom_builder import BuiltStudy, write_study
from tests.peers import OrthancPeer, free_port, missing_binaries

pytestmark = [pytest.mark.orthanc, pytest.mark.timeout(120)]

LAKE_AE = "DICOM_LAKE"
PARTITION = "2026-11-09"
NETWORK = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10)
KILL_AFTER = 12  # instances received before the PACS dies


class KillSwitchWriter(SpoolWriter):
    """The ordinary spool writer that calls ``trip`` once, when ``limit`` instances were stored.

    ``trip`` runs before the instance's Success goes back, so the PACS dies with the move under way
    whatever the scheduling.
    """

    def __init__(self, spool: SpoolStore, limit: int, trip: Callable[[], None]) -> None:
        super().__init__(spool, PARTITION)
        self.limit = limit
        self.trip = trip
        self.stored = 0
        self.tripped = False

    def receive(
        self, encoded: bytes | Sequence[bytes], sop_instance_uid: str, sop_class_uid: str, calling_ae: str
    ) -> int:
        status = super().receive(encoded, sop_instance_uid, sop_class_uid, calling_ae)
        if status == 0:
            self.stored += 1
            if self.stored >= self.limit and not self.tripped:
                self.tripped = True
                self.trip()
        return status


@pytest.fixture
def orthanc_with_studies(tmp_path: Path) -> Iterator[tuple[OrthancPeer, int, list[BuiltStudy]]]:
    if missing_binaries("Orthanc"):
        pytest.skip("Orthanc is not installed (Debian package 'orthanc')")
    folder = tmp_path / "archive"
    studies = [
        write_study(folder, key=key, image_series=3, images_per_series=12, with_rdsr=False)
        for key in (61, 62)
    ]
    lake_port = free_port()
    peer = OrthancPeer(tmp_path / "orthanc", modalities={"lake": (LAKE_AE, "127.0.0.1", lake_port)})
    peer.start()
    try:
        peer.upload(sorted(folder.rglob("*.dcm")))
        yield peer, lake_port, studies
    finally:
        peer.stop()


def _retrieve(
    peer: OrthancPeer, lake_port: int, spool: SpoolStore, writer: SpoolWriter | None = None
) -> RetrievalSummary:
    address = PeerAddress("127.0.0.1", peer.dicom_port, peer.ae_title, LAKE_AE)
    options = RetrievalOptions(
        policy="full",
        move_destination_ae_title=LAKE_AE,
        storage_scp_port=lake_port,
        max_retries=1,
        retry_backoff_s=0.0,
        receiving_processes=0,
    )
    retriever = PartitionRetriever(
        address, NETWORK, options, spool, PARTITION, writer=writer, sleep=lambda s: None
    )
    return retriever.retrieve(read_partition_index(spool, PARTITION))


def test_pacs_killed_mid_move_fails_the_partition_keeps_what_arrived_and_the_rerun_completes(
    orthanc_with_studies: tuple[OrthancPeer, int, list[BuiltStudy]], tmp_path: Path
) -> None:
    peer, lake_port, studies = orthanc_with_studies
    source = {uid for study in studies for uid in study.sop_uids}
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    with PacsQuerier(PeerAddress("127.0.0.1", peer.dicom_port, peer.ae_title, LAKE_AE), NETWORK) as querier:
        index_partition(querier, spool, PARTITION, StudySelector(modalities=["CT"]))

    process = peer.process
    assert process is not None

    def kill_the_pacs() -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    with pytest.raises(PacsError) as caught:
        _retrieve(peer, lake_port, spool, KillSwitchWriter(spool, KILL_AFTER, kill_the_pacs))
    assert process.returncode == -signal.SIGKILL  # the PACS really died mid-partition
    message = str(caught.value)
    assert f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}" in message
    assert "are kept; a rerun resumes" in message

    kept = spool.instances(PARTITION)
    kept_uids = {record.sop_instance_uid for record in kept}
    assert KILL_AFTER <= len(kept) < len(source)
    assert len(kept_uids) == len(kept) and kept_uids <= source
    for record in kept:  # every kept row has its file, whole
        ds = dcmread(record.path)
        assert ds.SOPInstanceUID == record.sop_instance_uid
        assert len(ds.PixelData) > 0

    peer.start()  # same storage folder and ports: the archive is back with its studies
    rerun = _retrieve(peer, lake_port, spool)
    assert rerun.instances_already_present == len(kept)
    assert rerun.instances_retrieved == len(source) - len(kept)
    uids = [record.sop_instance_uid for record in spool.instances(PARTITION)]
    assert len(uids) == len(set(uids)) == len(source)
    assert set(uids) == source
