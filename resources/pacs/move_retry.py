"""The C-MOVE / C-GET retry: move one study's plan, check the spool, retry what is still missing.

A study's items are sent on one association of the engine (:mod:`resources.pacs.move_engine`).
What the moves brought is then checked against the spool index (never against the PACS's counts
alone, when the instances are known by UID); the items still missing are recorded in
``retrieval_failure`` and sent again, after the backoff of :class:`~resources.pacs.retry.BoundedRetry`,
up to ``retrieval.max_retries`` times. A whole-study move that failed part-way is re-planned first,
so that the retry lists the study and moves only what is missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from resources.dicom_network.association import PeerAddress
from resources.pacs.errors import PacsUnavailableError
from resources.pacs.move_engine import MoveEngine, MoveOutcome, describe_outcome, raise_for_refusal
from resources.pacs.retrieval_plan import MoveItem, StudyPlan, StudyPlanner, image_items
from resources.pacs.retry import BoundedRetry
from resources.pacs.throttle import MoveRateLimiter
from resources.spool.errors import SpoolWriteError
from resources.spool.pacs_index import IndexedStudy
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)


class Receiver(Protocol):
    """What receives the sub-operations: the in-process spool writer or the receiving processes."""

    def expect(self, sop_instance_uid: str, study_uid: str, series_uid: str) -> None: ...

    def flush(self) -> int: ...


class RetrievalCounters:
    """Moves sent, retries and planning time of one partition, counted from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.moves = 0
        self.retries = 0
        self.planning_s = 0.0

    def add_move(self) -> None:
        with self._lock:
            self.moves += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_planning(self, seconds: float) -> None:
        with self._lock:
            self.planning_s += seconds


class StudyMoves:
    """Moves studies of one partition with an engine, checking and retrying each study's items."""

    def __init__(
        self,
        engine: MoveEngine,
        *,
        spool: SpoolStore,
        receiver: Receiver,
        planner: StudyPlanner,
        studies: Mapping[str, IndexedStudy],
        retry: BoundedRetry,
        rate: MoveRateLimiter,
        check_window: Callable[[], None],
        counters: RetrievalCounters,
        peer: PeerAddress,
        destination: str,
        partition_key: str,
    ) -> None:
        self.engine = engine
        self.spool = spool
        self.receiver = receiver
        self.planner = planner
        self.studies = studies
        self.retry = retry
        self.rate = rate
        self.check_window = check_window
        self.counters = counters
        self.peer = peer
        self.destination = destination
        self.partition_key = partition_key

    def run(self, plan: StudyPlan) -> tuple[int, str]:
        """Run a study's items with retries; returns (instances still missing, last reason).

        Raises
        ------
        PacsUnavailableError
            When the PACS stayed unreachable through the last attempt.
        PacsRefusedError
            When the PACS refuses the move (not retried).
        OutsideAllowedWindowError
            When a retry would start outside the allowed windows.
        """
        items = list(plan.items)
        reason = ""
        missing = 0
        unavailable: PacsUnavailableError | None = None
        for attempt in self.retry:
            if attempt.is_retry:
                self.check_window()
            outcomes: dict[MoveItem, MoveOutcome] = {}
            try:
                self._send_items(plan, items, outcomes)
                unavailable = None
            except PacsUnavailableError as exc:
                unavailable = exc
                reason = "PACS unavailable"
                log.warning("study %s: attempt %d: %s", plan.study_uid, attempt.number + 1, exc)
            items, missing, item_reason = self._still_missing(plan, items, outcomes)
            reason = item_reason or reason
            if not items:
                self._clear_failures(plan)
                return 0, ""
            self._record_failures(plan, items, reason)
            if unavailable is None and any(i.level == "STUDY" and not plan.listed for i in items):
                # A whole-study move failed part-way: list the study so the retry moves only what is missing.
                plan, items = self._replan(plan)
                if not items:
                    self._clear_failures(plan)
                    return 0, ""
        if unavailable is not None:
            raise PacsUnavailableError(
                f"{unavailable} (gave up after {self.retry.attempts} attempts)"
            ) from unavailable
        return missing, reason

    def _replan(self, plan: StudyPlan) -> tuple[StudyPlan, list[MoveItem]]:
        fresh = self.planner.replan(self.studies[plan.study_uid])
        for uid, series_uid in fresh.listed.items():
            self.receiver.expect(uid, fresh.study_uid, series_uid)
        return fresh, list(fresh.items)

    def _send_items(
        self, plan: StudyPlan, items: Sequence[MoveItem], outcomes: dict[MoveItem, MoveOutcome]
    ) -> None:
        session = self.engine.open(plan)
        try:
            for item in items:
                self.check_window()
                self.rate.acquire()
                outcome = session.send(item)
                outcomes[item] = outcome
                self.counters.add_move()
                raise_for_refusal(
                    outcome, item, service=self.engine.service, peer=self.peer, destination=self.destination
                )
        finally:
            session.close()

    def _still_missing(
        self, plan: StudyPlan, items: Sequence[MoveItem], outcomes: dict[MoveItem, MoveOutcome]
    ) -> tuple[list[MoveItem], int, str]:
        """Which items still need work, and how many instances are missing."""
        if any(_checked_against_spool(plan, item, outcomes.get(item)) for item in items):
            # What the moves brought is indexed only once durable: wait for it before looking.
            self.receiver.flush()
        remaining: list[MoveItem] = []
        missing_total = 0
        reason = ""
        for item in items:
            outcome = outcomes.get(item)
            if item.sop_uids or (item.level == "STUDY" and plan.listed):
                wanted = list(item.sop_uids) or list(plan.listed)
                known = self.spool.known_instances(wanted)
                lost = [u for u in wanted if u not in known]
                if not lost:
                    continue
                missing_total += len(lost)
                reason = describe_outcome(outcome)
                by_series: dict[str, list[str]] = {}
                for uid in lost:
                    by_series.setdefault(plan.listed.get(uid, item.series_uid or ""), []).append(uid)
                for series_uid, uids in by_series.items():
                    remaining.extend(image_items(plan.study_uid, series_uid, uids))
                continue
            # Whole series/study not listed: trust the final status and the sub-operation counts.
            if outcome is not None and outcome.succeeded:
                continue
            if (
                item.level == "STUDY"
                and item.expected
                and self.spool.study_instance_count(item.study_uid) >= item.expected
            ):
                continue
            if (
                item.series_uid
                and item.expected
                and self.spool.series_instance_count(item.series_uid) >= item.expected
            ):
                continue
            missing_total += outcome.failed if outcome and outcome.failed else int(item.expected or 1)
            reason = describe_outcome(outcome)
            remaining.append(item)
        return remaining, missing_total, reason

    # ``retrieval_failure`` is a report: a spool index that cannot take it (disk full) must not hide
    # the outcome of the moves, which the partition's error reports instead.
    def _record_failures(self, plan: StudyPlan, items: Sequence[MoveItem], reason: str) -> None:
        missing = [(item.series_uid or "", uid) for item in items for uid in item.sop_uids or ("",)]
        try:
            self.spool.record_retrieval_failures(self.partition_key, plan.study_uid, missing, reason)
        except SpoolWriteError as exc:
            log.warning("partition %s, study %s: %s", self.partition_key, plan.study_uid, exc)

    def _clear_failures(self, plan: StudyPlan) -> None:
        try:
            self.spool.clear_retrieval_failures(plan.study_uid)
        except SpoolWriteError as exc:
            log.warning("partition %s, study %s: %s", self.partition_key, plan.study_uid, exc)


def _checked_against_spool(plan: StudyPlan, item: MoveItem, outcome: MoveOutcome | None) -> bool:
    """Whether :meth:`StudyMoves._still_missing` reads the spool index to judge ``item``."""
    if item.sop_uids or (item.level == "STUDY" and plan.listed):
        return True
    return not (outcome is not None and outcome.succeeded)
