"""Several sources: two archives pulled side by side vs the same two pulls one after the other.

A site with several sources (``sources:`` in the site file) runs one partition per source at a time
and the sources beside each other (README "Several PACS at once"). This measures what that buys on
this machine: two demo PACS, each with its own generated corpus, each pulled with the retrieval
engine the ``retrieved_instances`` asset runs (C-FIND index, then C-MOVE into our storage SCP on the
source's own port), in a process of its own as a Dagster step would be:

* baseline, *one after the other*: source A's partition, then source B's;
* ours, *side by side*: both partitions at once.

Each with no rate limit (bound by the two cores) and with each archive throttled to
``--moves-per-minute`` C-MOVEs (bound by the archives' own limits, as a clinical PACS is), the two
orders alternating over ``--repeat`` rounds; medians and ranges of the speed-up are printed. Not part of
the test suite.

    .venv/bin/python benchmarks/sources.py [--studies 12] [--images-per-series 40] [--repeat 3]
        [--moves-per-minute 120]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resources.corpus import CorpusSpec, generate_corpus
from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions
from resources.pacs.selection import StudySelector
from resources.pacs.study_index import index_partition, read_partition_index
from resources.spool import SpoolStore

LAKE_AE = "DICOM_LAKE"
DAY = "2026-11-09"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pull(pacs_port: int, lake_port: int, spool_root: str, key: str, moves_per_minute: float) -> int:
    """One source's partition: index, then retrieve (what pacs_study_index and retrieved_instances do)."""
    spool = SpoolStore(Path(spool_root))
    peer = PeerAddress("127.0.0.1", pacs_port, "DEMO_PACS", LAKE_AE)
    network = NetworkOptions()
    with PacsQuerier(peer, network) as querier:
        index_partition(querier, spool, key, StudySelector(modalities=[]))
    options = RetrievalOptions(
        policy="full",
        method="move",
        move_destination_ae_title=LAKE_AE,
        storage_scp_port=lake_port,
        max_moves_per_minute=moves_per_minute,
        retry_backoff_s=0.0,
    )
    summary = PartitionRetriever(peer, network, options, spool, key).retrieve(
        read_partition_index(spool, key)
    )
    spool.close()
    return summary.instances_retrieved


def _pull_in_child(args: tuple[int, int, str, str, float]) -> int:
    return pull(*args)


def run(jobs: list[tuple[int, int, str, str, float]], side_by_side: bool) -> tuple[float, int]:
    """Seconds for the jobs (each in a process of its own), together or one after the other."""
    context = multiprocessing.get_context("spawn")
    began = time.perf_counter()
    if side_by_side:
        with context.Pool(len(jobs)) as pool:
            received = sum(pool.map(_pull_in_child, jobs))
    else:
        received = 0
        for job in jobs:
            with context.Pool(1) as pool:
                received += sum(pool.map(_pull_in_child, [job]))
    return time.perf_counter() - began, received


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=12, help="studies per source")
    parser.add_argument("--images-per-series", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--moves-per-minute", type=float, default=120.0, help="each archive's C-MOVE limit")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="dicom-lake-bench-sources-"))
    archives = []
    for seed, name in ((101, "west"), (202, "east")):
        folder = work / f"corpus-{name}"
        spec = CorpusSpec(
            seed=seed,
            n_studies=args.studies,
            start_date=dt.date.fromisoformat(DAY),
            days=1,
            ct_images_per_series=args.images_per_series,
            plant_phi=False,
        )
        generate_corpus(folder, spec)
        lake_port = free_port()
        pacs = DemoPacs(folder, "DEMO_PACS", known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
        archives.append((name, pacs, pacs.start(), lake_port, len(list(folder.rglob("*.dcm")))))
    total = sum(a[4] for a in archives)
    print(
        f"two sources: {', '.join(f'{a[0]} {a[4]} instances' for a in archives)}; {args.studies} studies each"
    )
    try:
        results = []
        for label, rate in (
            ("no rate limit", 0.0),
            (f"{args.moves_per_minute:g} C-MOVEs/min per archive", args.moves_per_minute),
        ):
            sequential: list[float] = []
            together: list[float] = []
            for attempt in range(args.repeat):
                for side_by_side in (False, True) if attempt % 2 == 0 else (True, False):
                    spool = work / f"spool-{rate:g}-{attempt}-{int(side_by_side)}"
                    jobs = [
                        (port, lake_port, str(spool), f"{DAY}|{name}", rate)
                        for name, _, port, lake_port, _ in archives
                    ]
                    seconds, received = run(jobs, side_by_side)
                    if received != total:
                        raise SystemExit(f"received {received} of {total} instances")
                    (together if side_by_side else sequential).append(total / seconds)
            speedups = [t / s for t, s in zip(together, sequential, strict=True)]
            results.append((label, statistics.median(sequential), statistics.median(together), speedups))
    finally:
        for _, pacs, *_ in archives:
            pacs.stop()
    print(f"\n{'setting':<34} {'one after the other':>20} {'side by side':>14} {'speed-up':>9} {'range':>14}")
    for label, seq, tog, speedups in results:
        print(
            f"{label:<34} {seq:>15,.0f} i/s {tog:>10,.0f} i/s {statistics.median(speedups):>8.2f}x "
            f"[{min(speedups):.2f}-{max(speedups):.2f}]"
        )
    print(
        "\nBaseline: the two pulls one after the other (what a single pool shared by both archives gives); "
        "ours: side by side (one run per source at a time, sources in parallel)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
