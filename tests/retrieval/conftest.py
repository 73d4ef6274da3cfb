"""Fixtures for the retrieval tests: a small synthetic archive and a demo PACS serving it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.retrieve import RetrievalOptions
from tests.dicom_builder import BuiltStudy, write_study
from tests.peers import free_port

LAKE_AE = "DICOM_LAKE"
PARTITION = "2026-11-09"


@dataclass
class Archive:
    folder: Path
    with_rdsr: BuiltStudy  # CT, 2 image series x 5, one RDSR series, one non-dose SR series
    without_rdsr: BuiltStudy  # CT, 2 image series x 5, no dose SR
    mr: BuiltStudy  # MR study (not selected when selecting CT)
    other_day: BuiltStudy  # CT on the next day

    @property
    def partition_studies(self) -> list[BuiltStudy]:
        return [self.with_rdsr, self.without_rdsr, self.mr]


def build_archive(folder: Path) -> Archive:
    return Archive(
        folder=folder,
        with_rdsr=write_study(folder, key=1, image_series=2, images_per_series=5, with_other_sr=True),
        without_rdsr=write_study(
            folder,
            key=2,
            image_series=2,
            images_per_series=5,
            with_rdsr=False,
            description="CT ABDOMEN",
            station="CTSCANNER2",
        ),
        mr=write_study(
            folder,
            key=3,
            image_series=1,
            images_per_series=3,
            with_rdsr=False,
            modality="MR",
            description="MR KNEE",
            station="MR1",
        ),
        other_day=write_study(folder, key=4, study_date="20261110", image_series=1, images_per_series=2),
    )


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("archive"))


@dataclass
class RunningDemo:
    pacs: DemoPacs
    peer: PeerAddress
    network: NetworkOptions
    lake_port: int

    def options(self, **overrides: object) -> RetrievalOptions:
        values: dict[str, object] = {
            "move_destination_ae_title": LAKE_AE,
            "storage_scp_port": self.lake_port,
            "retry_backoff_s": 0.0,
        }
        values.update(overrides)
        return RetrievalOptions(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["native", "pynetdicom"])
def demo(archive: Archive, request: pytest.FixtureRequest) -> Iterator[RunningDemo]:
    """The demo PACS, and our side of it with each C-FIND/C-MOVE requestor (``pacs.scu_engine``)."""
    lake_port = free_port()
    pacs = DemoPacs(
        archive.folder,
        "DEMO_PACS",
        known_destinations={LAKE_AE: ("127.0.0.1", lake_port)},
        options=NetworkOptions(acse_timeout_s=5, dimse_timeout_s=5, network_timeout_s=5),
    )
    port = pacs.start()
    try:
        yield RunningDemo(
            pacs=pacs,
            peer=PeerAddress("127.0.0.1", port, "DEMO_PACS", LAKE_AE),
            network=NetworkOptions(
                acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10, scu_engine=request.param
            ),
            lake_port=lake_port,
        )
    finally:
        pacs.stop()
