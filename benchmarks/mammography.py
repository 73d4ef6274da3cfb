"""Mammography: the Dance MGD computation rate against a bare header read, and what the metadata policy
costs for MG studies against full retrieval.

* MGD rate: the Dance model (QA-file lookup, inverse square, g/c bilinear interpolation, s) per
  exposure, against the named baseline ``pydicom.dcmread(path, stop_before_pixels=True)`` of the same
  generated MG images (the least any header-based dose tool must do per image), and our own header
  reader (:func:`resources.dose.mammography.headers.read_projection_exposure`) on them.
* Policy cost: a generated MG corpus served by the in-process demo PACS, indexed and retrieved once
  with ``policy=metadata`` and once with ``policy=full``: instances, bytes and seconds. Under the
  metadata policy every MG image is fetched (each carries its own exposure), so bytes equal full
  retrieval's for MG series; the saving of the first-instance rule (one image of four per series)
  is given up for MG. The generated images are 16 x 16 pixels: real 2D mammograms are 10-30 MB each,
  so the measured byte counts scale with the image size, the instance count does not change.

    .venv/bin/python benchmarks/mammography.py [--studies 40] [--exposures 20000]

Measured on the shared 2-core machine (40 MG studies, 160 images; two runs while other work ran):
bare ``pydicom.dcmread`` 1,066-1,093 headers/s, our header reader 0.56-0.60x that (it converts 48
attributes per image); Dance MGD 53,000-54,000 exposures/s, about 50x the baseline read rate, so the
model costs nothing next to reading the header. Metadata policy for MG studies: 1.00 of the instances
and of the bytes of full retrieval, in 1.6-1.85x its time (an image-level C-FIND per series and UID-list
moves, where full retrieval moves each new study with one request). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import pydicom  # noqa: E402

from resources.corpus import CorpusSpec, generate_corpus  # noqa: E402
from resources.curation.device_names import DeviceNameMapper  # noqa: E402
from resources.dicom_network.association import NetworkOptions, PeerAddress  # noqa: E402
from resources.dose.mammography.exposures import dance_for  # noqa: E402
from resources.dose.mammography.headers import read_projection_exposure  # noqa: E402
from resources.dose.mammography.qa_file import load_qa_file  # noqa: E402
from resources.pacs.demo_pacs import DemoPacs  # noqa: E402
from resources.pacs.query import PacsQuerier  # noqa: E402
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary  # noqa: E402
from resources.pacs.selection import StudySelector  # noqa: E402
from resources.pacs.study_index import index_partition, read_partition_index  # noqa: E402
from resources.spool import SpoolStore  # noqa: E402
from tests.peers import free_port  # noqa: E402

DAY = dt.date(2026, 11, 9)
LAKE_AE = "DICOM_LAKE"
QA_EXAMPLE = REPO_ROOT / "resources" / "dose" / "mammography" / "qa_example.yaml"


def mgd_rate(files: list[Path], exposures: int) -> None:
    qa = load_qa_file(QA_EXAMPLE)
    for path in files:  # warm the page cache so neither reader pays for the disk
        path.read_bytes()
    began = time.perf_counter()
    for path in files:
        pydicom.dcmread(path, stop_before_pixels=True)
    bare = len(files) / (time.perf_counter() - began)
    began = time.perf_counter()
    headers = [read_projection_exposure(path) for path in files]
    ours = len(files) / (time.perf_counter() - began)
    names = DeviceNameMapper.default()
    mg = [(h, names.station(h.station_name, h.manufacturer)) for h in headers if h.modality == "MG"]
    began = time.perf_counter()
    computed = 0
    for i in range(exposures):
        header, station = mg[i % len(mg)]
        computed += dance_for(header, qa, station.canonical if station else None).mgd_mgy is not None
    rate = exposures / (time.perf_counter() - began)
    print(f"baseline pydicom.dcmread(stop_before_pixels): {bare:,.0f} headers/s ({len(files)} MG images)")
    print(f"our header reader:                           {ours:,.0f} headers/s ({ours / bare:.2f}x baseline)")
    print(
        f"Dance MGD:                                   {rate:,.0f} exposures/s ({rate / bare:.1f}x the "
        f"baseline read rate; {computed} of {exposures} with an MGD)"
    )


def retrieve(peer: PeerAddress, lake_port: int, folder: Path, policy: str) -> RetrievalSummary:
    network = NetworkOptions()
    spool = SpoolStore(folder, fsync=False)
    with PacsQuerier(peer, network) as querier:
        index_partition(querier, spool, DAY.isoformat(), StudySelector(modalities=["MG"]))
    options = RetrievalOptions(
        policy=policy,  # type: ignore[arg-type]
        move_destination_ae_title=LAKE_AE,
        storage_scp_port=lake_port,
    )
    summary = PartitionRetriever(peer, network, options, spool, DAY.isoformat()).retrieve(
        read_partition_index(spool, DAY.isoformat())
    )
    spool.close()
    return summary


def policy_cost(corpus: Path, work: Path) -> None:
    lake_port = free_port()
    demo = DemoPacs(corpus, "DEMO_PACS", known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
    port = demo.start()
    try:
        peer = PeerAddress("127.0.0.1", port, "DEMO_PACS", LAKE_AE)
        meta = retrieve(peer, lake_port, work / "meta", "metadata")
        full = retrieve(peer, lake_port, work / "full", "full")
    finally:
        demo.stop()
    for name, s in (("metadata", meta), ("full", full)):
        print(
            f"{name:8s} policy: {s.instances_retrieved} instances, {s.bytes_retrieved:,} B, {s.seconds:.2f} s"
        )
    print(
        f"metadata/full for MG studies: {meta.instances_retrieved / full.instances_retrieved:.2f} of the "
        f"instances, {meta.bytes_retrieved / full.bytes_retrieved:.2f} of the bytes, "
        f"{meta.seconds / full.seconds:.2f} of the time (the first-instance rule would have fetched "
        f"{full.instances_retrieved // 4} instances: a quarter)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--exposures", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = CorpusSpec(
            seed=2026, n_studies=args.studies, days=1, start_date=DAY, plant_phi=False, mg_fraction=1.0
        )
        generate_corpus(work / "corpus", spec)
        files = sorted((work / "corpus").rglob("*.dcm"))
        mgd_rate(files, args.exposures)
        policy_cost(work / "corpus", work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
