"""Which listener arrivals have settled: the engine behind the ``prospective_arrivals`` sensor.

A study has settled when no instance of it has arrived for the quiet period. Arrivals are read from
the spool index (``source = 'listener'``) above a watermark (the newest indexing time already handed to a
run), so a restart neither misses nor repeats anything. Study UIDs never leave this module except as
a digest: the sensor's run keys and tags live in the Dagster event log, which is part of the
de-identified zone.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from resources.listener.storage_listener import SOURCE
from resources.spool.instance_index import StudyArrival
from resources.spool.store import SpoolStore


@dataclass(frozen=True)
class PartitionBatch:
    """The settled studies of one partition: one run request."""

    partition_key: str
    studies: int
    instances: int
    newest_indexed_at: str
    digest: str  # of the (study UID, newest indexing time) pairs: same arrivals -> same run key

    @property
    def run_key(self) -> str:
        return f"arrivals-{self.partition_key}-{self.digest}"


@dataclass(frozen=True)
class ArrivalScan:
    settled: list[PartitionBatch]
    unsettled_studies: int
    watermark: str | None  # newest indexing time covered by ``settled`` (or the previous watermark)


def study_arrivals(spool: SpoolStore, *, after: str | None) -> list[StudyArrival]:
    """Listener arrivals indexed after ``after`` (ISO UTC), grouped by study and partition."""
    return spool.study_arrivals(source=SOURCE, after=after)


def scan_arrivals(spool: SpoolStore, *, after: str | None, settled_before: str) -> ArrivalScan:
    """Split arrivals above the watermark into settled batches (per partition) and unsettled studies.

    A study is settled when its newest instance arrived before ``settled_before`` (now minus the
    quiet period). The new watermark is the newest indexing time of a settled study: every unsettled
    study's newest indexing time is later than that, so it is seen again on the next scan.
    """
    arrivals = study_arrivals(spool, after=after)
    # A study is settled only if all its partitions are: it is one forward from the PACS.
    newest_by_study: dict[str, str] = {}
    for arrival in arrivals:
        newest_by_study[arrival.study_uid] = max(
            newest_by_study.get(arrival.study_uid, ""), arrival.last_indexed_at
        )
    settled_studies = {uid for uid, newest in newest_by_study.items() if newest < settled_before}
    by_partition: dict[str, list[StudyArrival]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.study_uid in settled_studies:
            by_partition[arrival.partition_key].append(arrival)
    batches = []
    for partition_key, studies in sorted(by_partition.items()):
        digest = hashlib.sha256()
        for study in sorted(studies, key=lambda s: s.study_uid):
            digest.update(f"{study.study_uid}|{study.last_indexed_at}\n".encode())
        batches.append(
            PartitionBatch(
                partition_key=partition_key,
                studies=len(studies),
                instances=sum(s.instances for s in studies),
                newest_indexed_at=max(s.last_indexed_at for s in studies),
                digest=digest.hexdigest()[:16],
            )
        )
    watermark = max((newest_by_study[uid] for uid in settled_studies), default=after)
    return ArrivalScan(
        settled=batches, unsettled_studies=len(newest_by_study) - len(settled_studies), watermark=watermark
    )
