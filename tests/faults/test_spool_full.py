"""The spool's filesystem full: a small tmpfs (root only) as the spool of a real listener and of a retrieval.

- ``storescu`` of more than fits: what did not fit is answered 0xA700 (out of resources), everything the
  sender was told Success for is in the spool (file and index row) or in the journal kept for the next
  start, which writes it into the spool once the filesystem is grown; the resend of everything then
  succeeds.
- A C-MOVE retrieval into a full spool fails the partition with a PacsError that says the spool could not
  be written; once space returns the rerun completes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.listener.journal import journal_folder
from resources.listener.journal_format import SUFFIX, VOID, read_segment
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.errors import PacsError
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary
from resources.pacs.selection import StudySelector
from resources.pacs.study_index import index_partition, read_partition_index
from resources.site_config import load_site_config
from resources.spool import SpoolStore
from tests.dcmtk_tools import require_dcmtk, storescu_command, storescu_env
from tests.dicom_builder import write_ct_studies, write_study
from tests.faults.conftest import require_root_for_mount, resize_filesystem, small_filesystem
from tests.listener_site import start_listener_in_process, write_site
from tests.peers import free_port

pytestmark = [pytest.mark.dcmtk, pytest.mark.timeout(120)]

PARTITION = "2026-11-09"  # the study date of the built files
INSTANCES = 30
ROWS = 256  # 256 x 256 x 16 bit: about 130 kB a file, so a 2 MB spool holds a handful
_RESPONSE = re.compile(r"^I: (Sending file: (?P<file>.+)|Received Store Response \((?P<status>[^)]*)\))$")


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    require_root_for_mount()
    with small_filesystem(tmp_path / "spool-fs", "2m") as mountpoint:
        yield mountpoint


def _store(port: int, files: list[Path]) -> dict[Path, str]:
    """``storescu -v`` every file (no halt on failure); returns each file's response as dcmtk names it."""
    command = storescu_command(port, files)
    command.insert(1, "-v")
    run = subprocess.run(command, env=storescu_env(), capture_output=True, text=True, timeout=90)
    answers: dict[Path, str] = {}
    current: Path | None = None
    for line in (run.stdout + run.stderr).splitlines():
        match = _RESPONSE.match(line.strip())
        if match and match.group("file"):
            current = Path(match.group("file"))
        elif match and current is not None:
            answers[current] = match.group("status")
            current = None
    assert set(answers) == set(files), run.stdout[-2000:] + run.stderr[-2000:]
    return answers


@pytest.mark.parametrize("engine", ["native", "pynetdicom"])
def test_listener_on_a_full_spool_refuses_with_a700_loses_nothing_acknowledged_and_recovers(
    mounted: Path, tmp_path: Path, engine: str
) -> None:
    require_dcmtk("storescu")
    files = write_ct_studies(tmp_path / "sent", studies=1, instances_per_study=INSTANCES, rows=ROWS)
    uid_of = {path: str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files}
    site_file = write_site(
        tmp_path / "site",
        folders={"root": str(tmp_path / "site"), "spool": str(mounted / "spool")},
        listener={"engine": engine},
    )
    config = load_site_config(site_file)

    listener = start_listener_in_process(config)
    try:
        first = _store(config.listener.port, files)
    finally:
        listener.close()
    acknowledged = {uid_of[p] for p, status in first.items() if status == "Success"}
    refused = {p for p, status in first.items() if status != "Success"}
    assert 0 < len(acknowledged) < INSTANCES  # some fitted, the rest did not
    assert {first[p] for p in refused} == {"Refused: OutOfResources"}  # 0xA700, nothing else
    spool = SpoolStore(config.paths.spool, fsync=False)
    indexed = {r.sop_instance_uid for r in spool.instances(PARTITION)}
    spool.close()
    assert acknowledged <= indexed | _journaled(config.paths.spool)  # nothing acknowledged is lost

    kept = list(journal_folder(config.paths.spool).glob(f"*{SUFFIX}"))
    resize_filesystem(mounted, "64m")  # space returns; the spool's files stay
    listener = start_listener_in_process(config)  # replays the journal first
    try:
        spool = SpoolStore(config.paths.spool, fsync=False)
        recovered = {r.sop_instance_uid: r for r in spool.instances(PARTITION)}
        spool.close()
        assert acknowledged <= set(recovered)
        for uid in acknowledged:
            assert dcmread(recovered[uid].path).SOPInstanceUID == uid
        assert not [segment for segment in kept if segment.exists()]  # replayed, then deleted
        second = _store(config.listener.port, files)
    finally:
        listener.close()
    assert set(second.values()) == {"Success"}
    rows = [r.sop_instance_uid for r in SpoolStore(config.paths.spool, fsync=False).instances(PARTITION)]
    assert len(rows) == len(set(rows)) == INSTANCES
    assert set(rows) == set(uid_of.values())


def _journaled(spool_root: Path) -> set[str]:
    """SOP Instance UIDs the listener's journal holds (not voided): what a restart writes into the spool."""
    held: dict[str, bool] = {}
    for segment in sorted(journal_folder(spool_root).glob(f"*{SUFFIX}")):
        entries, _torn_at = read_segment(segment)
        for entry in entries:
            held[entry.record.sop_instance_uid] = entry.record.size_bytes != VOID
    return {uid for uid, kept in held.items() if kept}


def _fill(folder: Path) -> Path:
    """Write a filler file until the filesystem is full; returns it (delete it to give the space back)."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(bytes(64 * 1024))
                handle.flush()
        except OSError:
            pass
    return filler


def test_retrieval_into_a_full_spool_fails_the_partition_clearly_and_the_rerun_completes(
    mounted: Path, tmp_path: Path
) -> None:
    study = write_study(tmp_path / "archive", key=72, image_series=2, images_per_series=8, with_rdsr=False)
    lake_port = free_port()
    network = NetworkOptions(acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10)
    with DemoPacs(
        tmp_path / "archive", "DEMO_PACS", known_destinations={"DICOM_LAKE": ("127.0.0.1", lake_port)}
    ) as pacs:
        peer = PeerAddress("127.0.0.1", pacs.port, "DEMO_PACS", "DICOM_LAKE")
        spool = SpoolStore(mounted / "spool", fsync=True)
        with PacsQuerier(peer, network) as querier:
            index_partition(querier, spool, PARTITION, StudySelector(modalities=["CT"]))
        options = RetrievalOptions(
            policy="full",
            move_destination_ae_title="DICOM_LAKE",
            storage_scp_port=lake_port,
            max_retries=1,
            retry_backoff_s=0.0,
        )

        def retrieve() -> RetrievalSummary:
            retriever = PartitionRetriever(peer, network, options, spool, PARTITION, sleep=lambda s: None)
            return retriever.retrieve(read_partition_index(spool, PARTITION))

        filler = _fill(mounted)
        with pytest.raises(PacsError) as caught:
            retrieve()
        message = str(caught.value)
        assert f"partition {PARTITION}" in message
        assert f"the spool at {mounted / 'spool'} refused " in message
        assert "MB free on its filesystem" in message
        assert spool.instances(PARTITION) == []

        filler.unlink()
        summary = retrieve()
    assert summary.instances_retrieved == len(study.sop_uids)
    assert sorted(r.sop_instance_uid for r in spool.instances(PARTITION)) == sorted(study.sop_uids)
