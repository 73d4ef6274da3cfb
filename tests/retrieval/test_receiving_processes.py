"""Receiving processes: the C-MOVE destination served by worker processes sharing one socket."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
from pathlib import Path

import pytest
from pydicom import dcmread

from resources.dicom_network.association import NetworkOptions
from resources.dicom_network.status import StoreStatus
from resources.pacs.errors import PacsError
from resources.pacs.receiving_processes import ReceivingProcessError, ReceivingProcesses
from resources.pacs.retrieve import PartitionRetriever
from resources.pacs.study_index import read_partition_index
from resources.spool import SpoolStore
from tests.retrieval.conftest import LAKE_AE, PARTITION, Archive, RunningDemo
from tests.retrieval.test_demo_retrieval import _index, _spool_uids, metadata_expectation
from tests.retrieval.test_storage_scp import OTHER_STUDY, REQUESTED_STUDY, _ct_file, _send


def _retriever(demo: RunningDemo, spool: SpoolStore, **options: object) -> PartitionRetriever:
    return PartitionRetriever(
        demo.peer, demo.network, demo.options(**options), spool, PARTITION, sleep=lambda s: None
    )


def _wanted(archive: Archive) -> set[str]:
    return {uid for s in (archive.with_rdsr, archive.without_rdsr) for uid in s.sop_uids}


def test_concurrent_moves_are_received_by_one_process_each_by_default(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    assert _retriever(demo, SpoolStore(tmp_path / "a"), concurrent_moves=1).receiving_process_count() == 0
    assert _retriever(demo, SpoolStore(tmp_path / "b"), concurrent_moves=3).receiving_process_count() == 3
    get = _retriever(demo, SpoolStore(tmp_path / "c"), concurrent_moves=3, method="get")
    assert get.receiving_process_count() == 0  # C-GET receives on its own association

    spool = SpoolStore(tmp_path / "spool")  # with fsync: the workers' durability path
    _index(demo, spool)
    retriever = _retriever(demo, spool, policy="full", concurrent_moves=2)
    summary = retriever.retrieve(read_partition_index(spool, PARTITION))
    assert isinstance(retriever.receiving, ReceivingProcesses)
    wanted = _wanted(archive)
    assert summary.instances_retrieved == len(wanted)
    assert summary.bytes_retrieved == sum(r.size_bytes for r in spool.instances(PARTITION))
    assert sorted(_spool_uids(spool)) == sorted(wanted)
    for record in spool.instances(PARTITION):
        assert record.sha256 == hashlib.sha256(record.path.read_bytes()).hexdigest()
        assert dcmread(record.path).SOPInstanceUID == record.sop_instance_uid
        assert record.source == "pacs"
    assert not list((tmp_path / "spool").rglob("*.part"))

    again = _retriever(demo, spool, policy="full", concurrent_moves=2)
    rerun = again.retrieve(read_partition_index(spool, PARTITION))
    assert rerun.instances_retrieved == 0 and rerun.moves == 0
    assert sorted(_spool_uids(spool)) == sorted(wanted)


def test_metadata_policy_through_receiving_processes_fetches_what_it_does_in_process(
    demo: RunningDemo, tmp_path: Path, archive: Archive
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    retriever = _retriever(demo, spool, policy="metadata", receiving_processes=2)
    summary = retriever.retrieve(read_partition_index(spool, PARTITION))
    assert isinstance(retriever.receiving, ReceivingProcesses)
    assert set(_spool_uids(spool)) == metadata_expectation(archive)
    assert summary.instances_retrieved == len(metadata_expectation(archive))


def test_receiving_processes_refuse_other_studies_and_report_counts(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    workers = ReceivingProcesses(spool, PARTITION, processes=2, ae_title=LAKE_AE, options=NetworkOptions())
    workers.accept_studies({REQUESTED_STUDY})
    wanted = [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2, 3)]
    stray = _ct_file(tmp_path / "stray", OTHER_STUDY, 9)
    with workers:
        statuses = _send(workers.port, [*wanted, stray])
        assert workers.flush() == 3  # indexed by the time flush() returns
        assert len(spool.instances(PARTITION)) == 3
    assert statuses == [StoreStatus.SUCCESS] * 3 + [StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS]
    assert workers.counters.received == 3 and workers.counters.refused == 1
    assert workers.counters.parsed_headers == 4  # nothing announced: every header is read
    assert sorted(r.sop_instance_uid for r in spool.instances(PARTITION)) == sorted(
        dcmread(p).SOPInstanceUID for p in wanted
    )
    workers.stop()  # a second stop is harmless
    assert workers.flush() == 0


def test_a_worker_that_dies_is_reported_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    workers = ReceivingProcesses(spool, PARTITION, processes=2, ae_title=LAKE_AE)
    workers.accept_studies({REQUESTED_STUDY})
    with workers:
        first, second = (w.process for w in workers._workers)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        with caplog.at_level(logging.ERROR, logger="resources.pacs.receiving_processes"):
            workers.flush()
        assert "receiving process 0 has exited" in caplog.text
        # The survivor takes every association now.
        statuses = _send(workers.port, [_ct_file(tmp_path / "in", REQUESTED_STUDY, n) for n in (1, 2)])
        assert statuses == [StoreStatus.SUCCESS] * 2
        assert workers.flush() == 2
        os.kill(second.pid, signal.SIGKILL)
        second.wait()
        with pytest.raises(ReceivingProcessError, match="every receiving process has exited"):
            workers.flush()
    assert len(spool.instances(PARTITION)) == 2


def test_a_worker_that_cannot_start_gives_a_clear_error_and_frees_the_port(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool's folder should be")
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    spool.root = blocker  # as if the spool's folder had been replaced under a running retrieval
    workers = ReceivingProcesses(spool, PARTITION, processes=2, ae_title=LAKE_AE)
    with pytest.raises(ReceivingProcessError, match=r"receiving process \d did not start: \w+Error"):
        workers.start()
    assert isinstance(ReceivingProcessError("x"), PacsError)  # the retriever reports it as a PACS error
    with socket.socket() as probe:  # the port was let go
        probe.bind(("127.0.0.1", 0))


def test_storage_port_in_use_gives_a_clear_error_with_receiving_processes(
    demo: RunningDemo, tmp_path: Path
) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _index(demo, spool)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", demo.lake_port))
        holder.listen()
        with pytest.raises(PacsError, match=r"could not listen on 127\.0\.0\.1:\d+"):
            _retriever(demo, spool, policy="full", concurrent_moves=2).retrieve(
                read_partition_index(spool, PARTITION)
            )
