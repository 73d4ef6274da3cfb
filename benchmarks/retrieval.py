"""Retrieval throughput: our retrieval engine vs dcmtk ``movescu`` + ``storescp``, from the same Orthanc.

One generated corpus (at least 2,000 instances) is loaded into a private Orthanc started with
``TCP_NODELAY=1``. In the same run, the same studies are moved

* by dcmtk: ``movescu`` (Study Root, one C-MOVE per study) to a dcmtk ``storescp`` writing plain files
  (no fsync), both with ``TCP_NODELAY=1``;
* by our engine (:class:`resources.pacs.retrieve.PartitionRetriever`, what ``retrieved_instances``
  runs): C-MOVE sent by our native requestor (:mod:`resources.dicom_network.requestor`) to our native storage
  SCP, each instance written atomically, then made durable (one ``syncfs`` per batch of 64 on Linux)
  and indexed with its SHA-256. With several moves at once the sub-operations are received by as many
  worker processes (:mod:`resources.pacs.receiving_processes`, the default), started and stopped
  within the measured time.

Each pair is measured with one move at a time (one association) and with ``--concurrency`` studies
moved at once (our ``retrieval.concurrent_moves``; dcmtk: that many ``movescu`` processes into
``storescp --fork``), ``--repeat`` times, dcmtk and ours alternating; medians and the range of the
ratios are printed. Targets: >= 0.3x on one association and >= 0.8x with concurrent moves. Then the
metadata-only policy against full retrieval for the same studies: bytes and time. Not part of the
test suite.

    .venv/bin/python benchmarks/retrieval.py [--studies 30] [--images-per-series 100] [--concurrency 4]
        [--repeat 5]

Measured on the shared 2-core machine (2,371 instances, 30 studies, medians of 5 alternating runs;
dcmtk's own rate moves by a factor of two from one invocation to the next, with the machine's file
creation cost, which swung between 80 and 600 us per file in the same hour):

* one association (received in-process): ours 1,285-1,532 inst/s, medians 0.96x, 1.15x and 1.17x
  dcmtk (runs 0.84-1.35x);
* 4 moves at once, received by 4 worker processes: ours 1,774-2,058 inst/s, medians 0.81x, 0.90x and
  0.79x (runs 0.65-1.19x): at the 0.8x target rather than reliably above it. Starting and stopping the
  four workers costs about 0.2 s of the 1.1-1.3 s a run takes;
* 4 moves at once received in one process (before the workers; medians of 3): 0.71x-0.87x (runs
  0.62-0.95x). That process tops out near one core: its receiving threads, the C-MOVE requestors and
  the indexing thread share one interpreter lock (about 0.25 ms of Python per instance), while
  dcmtk's ``storescp --fork`` receives each association in a process of its own. CPU per instance
  measured with the workers: Orthanc 0.25-0.30 ms, ours with the kernel's share 0.55-0.6 ms, against
  0.35-0.6 ms for ``movescu`` and ``storescp``, which writes in place without fsync or index;
* metadata policy: 8.7 % of the bytes in 61-73 % of the time of a full retrieval (image-level C-FINDs
  dominate it; Orthanc answers them four times faster without SOP Class UID, which C-MOVE of image
  series does not need).

Before the native requestor (pynetdicom's SCU, whose two polling threads per association competed
with the receiving threads for the interpreter): 275-438 inst/s, 0.24-0.30x and 0.22-0.38x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pydicom.dataset import Dataset  # noqa: E402

from resources.corpus import CorpusSpec, generate_corpus  # noqa: E402
from resources.dicom_network.association import NetworkOptions, PeerAddress  # noqa: E402
from resources.pacs.query import PacsQuerier  # noqa: E402
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary  # noqa: E402
from resources.pacs.selection import StudySelector  # noqa: E402
from resources.pacs.storage_scp import ENGINES, Engine  # noqa: E402
from resources.pacs.study_index import index_partition, read_partition_index  # noqa: E402
from resources.spool import SpoolStore  # noqa: E402
from tests.peers import NODELAY_ENV, OrthancPeer, StorescpPeer, count_files, free_port  # noqa: E402

DAY = dt.date(2026, 11, 9)
PARTITION = DAY.isoformat()
LAKE_AE = "DICOM_LAKE"
DCMTK_AE = "STORESCP"


def write_queries(folder: Path, study_uids: Sequence[str]) -> list[Path]:
    """One Study Root STUDY-level C-MOVE identifier file per study, for movescu."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, uid in enumerate(study_uids):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = uid
        path = folder / f"q{number:04d}.dcm"
        ds.save_as(path, implicit_vr=True, little_endian=True)
        paths.append(path)
    return paths


def run_movescu(orthanc: OrthancPeer, queries: Sequence[Path], workers: int) -> float:
    """Move the studies with ``workers`` movescu processes at once; returns the wall time."""
    chunks = [list(queries[i::workers]) for i in range(workers)]
    began = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                "movescu",
                "-S",
                "-aet",
                LAKE_AE,
                "-aec",
                orthanc.ae_title,
                "-aem",
                DCMTK_AE,
                "127.0.0.1",
                str(orthanc.dicom_port),
                *map(str, chunk),
            ],
            env={**os.environ, **NODELAY_ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for chunk in chunks
        if chunk
    ]
    for process in processes:
        _, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"movescu failed: {err.decode(errors='replace')[-500:]}")
    return time.monotonic() - began


def run_dcmtk(
    orthanc: OrthancPeer, work: Path, queries: Sequence[Path], workers: int, expected: int, name: str
) -> float:
    folder = work / f"storescp-{name}"
    scp = StorescpPeer(folder, ae_title=DCMTK_AE, fork=workers > 1, port=orthanc_storescp_port)
    scp.start()
    try:
        seconds = run_movescu(orthanc, queries, workers)
        deadline = time.monotonic() + 30
        while count_files(folder) < expected and time.monotonic() < deadline:  # forked children finishing
            time.sleep(0.01)
        seconds = max(seconds, 0.0)
        received = count_files(folder)
    finally:
        scp.stop()
    if received != expected:
        raise SystemExit(f"dcmtk storescp received {received} of {expected} instances")
    return seconds


def run_ours(
    orthanc: OrthancPeer,
    work: Path,
    name: str,
    policy: str,
    workers: int,
    lake_port: int,
    engine: Engine = "native",
) -> RetrievalSummary:
    spool = SpoolStore(work / f"spool-{name}")
    peer = PeerAddress("127.0.0.1", orthanc.dicom_port, orthanc.ae_title, LAKE_AE)
    network = NetworkOptions()
    with PacsQuerier(peer, network) as querier:
        index_partition(querier, spool, PARTITION, StudySelector(modalities=[]))
    options = RetrievalOptions(
        policy=policy,  # type: ignore[arg-type]
        method="move",
        move_destination_ae_title=LAKE_AE,
        storage_scp_port=lake_port,
        concurrent_moves=workers,
        storage_scp_engine=engine,
    )
    retriever = PartitionRetriever(peer, network, options, spool, PARTITION)
    summary = retriever.retrieve(read_partition_index(spool, PARTITION))
    spool.close()
    return summary


orthanc_storescp_port = 0


def main(argv: Sequence[str] | None = None) -> int:
    global orthanc_storescp_port
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=30)
    parser.add_argument("--images-per-series", type=int, default=100)
    parser.add_argument("--storage-scp-engine", choices=ENGINES, default="native")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--repeat", type=int, default=5, help="dcmtk/ours pairs per setting; medians are printed"
    )
    args = parser.parse_args(argv)
    for binary in ("Orthanc", "movescu", "storescp"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is not installed (Debian packages orthanc, dcmtk)")

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="dicom-lake-bench-retrieval-"))
    try:
        corpus = work / "corpus"
        spec = CorpusSpec(
            seed=args.seed,
            n_studies=args.studies,
            start_date=DAY,
            days=1,
            ct_images_per_series=args.images_per_series,
            plant_phi=False,
        )
        generate_corpus(corpus, spec)
        files = sorted(corpus.rglob("*.dcm"))
        total_bytes = sum(p.stat().st_size for p in files)
        print(f"corpus: {len(files)} instances, {args.studies} studies, {total_bytes / 1e6:.1f} MB")
        if len(files) < 2000:
            print("warning: fewer than 2,000 instances; raise --studies or --images-per-series")

        orthanc_storescp_port = free_port()
        lake_port = free_port()
        orthanc = OrthancPeer(
            work / "orthanc",
            modalities={
                "lake": (LAKE_AE, "127.0.0.1", lake_port),
                "dcmtk": (DCMTK_AE, "127.0.0.1", orthanc_storescp_port),
            },
            extra_config={"DicomThreadsCount": max(4, args.concurrency)},
        )
        orthanc.start()
        try:
            began = time.monotonic()
            orthanc.upload(files)
            print(f"loaded into Orthanc in {time.monotonic() - began:.1f} s (REST POST /instances)")
            study_uids = [str(uid) for uid in orthanc_study_uids(orthanc)]
            queries = write_queries(work / "queries", study_uids)

            rows = []
            for workers in (1, args.concurrency):
                # dcmtk and ours alternate, so a slow minute of the shared machine hits both.
                dcmtk_rates, our_rates, move_rates, plannings, ratios = [], [], [], [], []
                for attempt in range(args.repeat):
                    name = f"{workers}-{attempt}"
                    dcmtk_s = run_dcmtk(orthanc, work, queries, workers, len(files), name)
                    ours = run_ours(
                        orthanc, work, f"full-{name}", "full", workers, lake_port, args.storage_scp_engine
                    )
                    if ours.instances_retrieved != len(files):
                        raise SystemExit(f"our retrieval received {ours.instances_retrieved} of {len(files)}")
                    dcmtk_rates.append(len(files) / dcmtk_s)
                    our_rates.append(ours.instances_per_s)
                    move_rates.append(ours.instances_retrieved / max(ours.seconds - ours.planning_s, 1e-9))
                    plannings.append(ours.planning_s)
                    ratios.append(ours.instances_per_s / dcmtk_rates[-1])
                rows.append(
                    (
                        workers,
                        statistics.median(dcmtk_rates),
                        statistics.median(our_rates),
                        statistics.median(move_rates),
                        statistics.median(plannings),
                        statistics.median(ratios),
                        (min(ratios), max(ratios)),
                    )
                )
            engine = args.storage_scp_engine
            metadata = run_ours(orthanc, work, "metadata", "metadata", args.concurrency, lake_port, engine)
            full = run_ours(orthanc, work, "full-again", "full", args.concurrency, lake_port, engine)
        finally:
            orthanc.stop()
        load_after = os.getloadavg()
        print()
        print(f"medians of {args.repeat} alternating runs each (ratio range in brackets)")
        print("moves at once | dcmtk movescu->storescp | ours (total) | ours (moves only) | planning | ratio")
        for workers, dcmtk_rate, ours_rate, move_rate, planning, ratio, (low, high) in rows:
            target = 0.3 if workers == 1 else 0.8
            verdict = "meets" if ratio >= target else "BELOW"
            print(
                f"{workers:13d} | {dcmtk_rate:17.0f} inst/s | {ours_rate:6.0f} inst/s"
                f" | {move_rate:11.0f} inst/s | {planning:6.2f} s | {ratio:.2f}x [{low:.2f}-{high:.2f}]"
                f" ({verdict} target {target}x)"
            )
        print()
        print(
            f"metadata policy: {metadata.instances_retrieved} instances, "
            f"{metadata.bytes_retrieved / 1e6:.2f} MB in {metadata.seconds:.2f} s"
        )
        print(
            f"full policy:     {full.instances_retrieved} instances, {full.bytes_retrieved / 1e6:.2f} MB"
            f" in {full.seconds:.2f} s"
        )
        if full.bytes_retrieved and full.seconds:
            print(
                f"metadata/full:   {metadata.bytes_retrieved / full.bytes_retrieved:.3f} of the bytes, "
                f"{metadata.seconds / full.seconds:.2f} of the time"
            )
        print(
            f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 cores shared); "
            f"storage SCP engine {args.storage_scp_engine}; ours fsyncs every instance before indexing it,"
            " storescp does not fsync"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def orthanc_study_uids(orthanc: OrthancPeer) -> list[str]:
    uids = []
    for study_id in orthanc.rest("GET", "/studies"):
        tags = orthanc.rest("GET", f"/studies/{study_id}")["MainDicomTags"]
        uids.append(tags["StudyInstanceUID"])
    return uids


if __name__ == "__main__":
    sys.exit(main())
