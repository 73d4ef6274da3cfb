"""De-identify one partition: every spool row of the partition in, research partition + summary out.

Used by the ``deidentified_instances`` asset (the asset stays free of DICOM handling). Writes, in the
research partition folder root, ``_phi_findings.jsonl`` (one finding per line, no text) and
``_deid_summary.json`` (counts per outcome, findings per entity type, leak verification result, SOP
Instance UID collisions) and ``_arrival_delays.jsonl`` (per research copy: delay from acquisition to
arrival and arrival path, rule in ``arrival``), and marks each spool row released or quarantined.
Two rows whose files carry the same SOP Instance UID make one research copy, chosen by the rule in
``collisions``; the other row is marked quarantined (no copy kept) with the reason.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resources.deid.arrival import ARRIVAL_FILE, ArrivalDelay, arrival_delay, write_arrivals
from resources.deid.collisions import CollisionKeeper
from resources.deid.engine import Deidentifier, DeidResult
from resources.deid.profile_application import Finding
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.spool.store import SpoolStore

logger = logging.getLogger(__name__)

STAGE = "deidentification"
FINDINGS_FILE = "_phi_findings.jsonl"
SUMMARY_FILE = "_deid_summary.json"
SUPERSEDED_REASON = (
    "superseded: another input of the partition has the same SOP Instance UID and was kept "
    "(later Instance Creation Date/Time, else larger file, else first in spool order)"
)


@dataclass
class PartitionSummary:
    partition_key: str
    profile_version: str
    outcomes: dict[str, int] = field(
        default_factory=lambda: {"deidentified": 0, "quarantined": 0, "opted_out": 0}
    )
    findings_by_entity: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    burned_in_quarantined: int = 0
    unreadable: int = 0
    leak_instances: int = 0
    leak_hits: int = 0
    instances_checked: int = 0
    sop_instance_uid_collisions: int = 0
    # Kept research copies per arrival path, and per arrival-delay flag (counts only).
    arrival_paths: dict[str, int] = field(default_factory=dict)
    arrival_flags: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def leak_check_passed(self) -> bool:
        return self.leak_hits == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition_key": self.partition_key,
            "profile_version": self.profile_version,
            "outcomes": self.outcomes,
            "findings_by_entity": dict(sorted(self.findings_by_entity.items())),
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "burned_in_quarantined": self.burned_in_quarantined,
            "unreadable": self.unreadable,
            "leak_check": {
                "instances_checked": self.instances_checked,
                "instances_with_leaks": self.leak_instances,
                "hits": self.leak_hits,
                "passed": self.leak_check_passed,
            },
            "sop_instance_uid_collisions": self.sop_instance_uid_collisions,
            "arrival": {
                "paths": dict(sorted(self.arrival_paths.items())),
                "flags": dict(sorted(self.arrival_flags.items())),
            },
            "seconds": round(self.seconds, 3),
        }


def _reason_kind(result: DeidResult) -> str:
    if result.leaks:
        return "leak"
    if result.burned_in:
        return "burned_in_pixels"
    text = result.reason
    if "opted out" in text:
        return "opted_out"
    return "unreadable"


def record(summary: PartitionSummary, result: DeidResult) -> None:
    summary.outcomes[result.outcome] = summary.outcomes.get(result.outcome, 0) + 1
    for finding in result.findings:
        summary.findings_by_entity[finding.entity_type] = (
            summary.findings_by_entity.get(finding.entity_type, 0) + 1
        )
    if result.outcome == "quarantined":
        kind = _reason_kind(result)
        summary.quarantine_reasons[kind] = summary.quarantine_reasons.get(kind, 0) + 1
        summary.burned_in_quarantined += kind == "burned_in_pixels"
        summary.unreadable += kind == "unreadable"
    if result.outcome == "deidentified" or result.leaks:
        summary.instances_checked += 1
    if result.leaks:
        summary.leak_instances += 1
        summary.leak_hits += len(result.leaks)


def record_superseded(summary: PartitionSummary, findings: list[Finding]) -> None:
    """Take back a de-identified result that lost a SOP Instance UID collision (its copy is not kept)."""
    summary.outcomes["deidentified"] -= 1
    summary.sop_instance_uid_collisions += 1
    for finding in findings:
        summary.findings_by_entity[finding.entity_type] -= 1
        if not summary.findings_by_entity[finding.entity_type]:
            del summary.findings_by_entity[finding.entity_type]


def deidentify_partition(
    engine: Deidentifier,
    spool: SpoolStore,
    research: ResearchStore,
    quarantine: QuarantineStore,
    partition_key: str,
    *,
    local_zone: dt.tzinfo = dt.UTC,
) -> PartitionSummary:
    """Process every spool row of the partition (any source, received or already released).

    ``local_zone`` is the site's zone, for source header times that carry no UTC offset.
    """
    started = time.perf_counter()
    summary = PartitionSummary(partition_key, engine.profile_version)
    records = spool.instances(partition_key, states=("received", "released", "quarantined"))
    quarantine.clear(STAGE, partition_key)
    quarantined: dict[str, list[str]] = collections.defaultdict(list)
    # Per research UID: the spool row whose copy is written, its findings and its arrival delay.
    keeper: CollisionKeeper[tuple[str, list[Finding], tuple[str, ArrivalDelay]]] = CollisionKeeper()
    with research.replacing_partition(partition_key) as writer:
        with (writer.folder / FINDINGS_FILE).open("w", encoding="utf-8") as findings_out:
            for row in records:
                result = engine.deidentify_file(Path(row.path))
                record(summary, result)
                if result.outcome == "deidentified" and result.encoded is not None:
                    delay = arrival_delay(row.received_at, result.source_acquired, row.source, local_zone)
                    payload = (row.sop_instance_uid, result.findings, (result.sop_instance_uid, delay))
                    offer = keeper.offer(row.sop_instance_uid, result, payload)
                    if offer.collision is not None and offer.dropped is not None:
                        logger.warning("partition %s: %s", partition_key, offer.collision.message())
                        dropped_uid, dropped_findings, _ = offer.dropped
                        record_superseded(summary, dropped_findings)
                        quarantined[SUPERSEDED_REASON].append(dropped_uid)
                    if offer.write:
                        target = writer.path_for(result.study_uid, result.series_uid, result.sop_instance_uid)
                        target.write_bytes(result.encoded)
                elif result.outcome == "quarantined":
                    quarantine.put(
                        stage=STAGE,
                        partition_key=partition_key,
                        name=f"{row.sop_instance_uid}.dcm",
                        reason=result.reason,
                        source=Path(row.path),
                    )
                    quarantined[result.reason].append(row.sop_instance_uid)
                else:  # opted out: dropped before anything is written, only counted
                    quarantined["patient opted out"].append(row.sop_instance_uid)
            released: list[str] = []
            arrivals: list[tuple[str, ArrivalDelay]] = []
            for row_uid, findings, arrival in keeper.payloads():
                released.append(row_uid)
                for finding in findings:
                    findings_out.write(json.dumps(finding.as_dict()) + "\n")
                arrivals.append(arrival)
                _count_arrival(summary, arrival[1])
        write_arrivals(writer.folder / ARRIVAL_FILE, arrivals)
        summary.seconds = time.perf_counter() - started
        (writer.folder / SUMMARY_FILE).write_text(json.dumps(summary.as_dict(), indent=2), encoding="utf-8")
    if released:
        spool.set_state(released, "released")
    for reason, uids in quarantined.items():
        spool.set_state(uids, "quarantined", reason)
    return summary


def _count_arrival(summary: PartitionSummary, delay: ArrivalDelay) -> None:
    summary.arrival_paths[delay.path] = summary.arrival_paths.get(delay.path, 0) + 1
    if delay.flag is not None:
        summary.arrival_flags[delay.flag] = summary.arrival_flags.get(delay.flag, 0) + 1


def read_summary(research: ResearchStore, partition_key: str) -> dict[str, Any] | None:
    path = research.partition_folder(partition_key) / SUMMARY_FILE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
