"""Retrieval of a partition's selected studies into the spool, by C-MOVE (default) or C-GET.

Where things are
----------------
- what to move for a study, under the ``metadata`` and ``full`` policies:
  :mod:`~resources.pacs.retrieval_plan`;
- the two move engines behind one interface: :mod:`~resources.pacs.move_engine`,
  :mod:`~resources.pacs.c_move`, :mod:`~resources.pacs.c_get`;
- the C-MOVE / C-GET retry (check against the spool, record failures, retry what is missing):
  :mod:`~resources.pacs.move_retry`, with the backoff rule of :mod:`~resources.pacs.retry`;
- here, :class:`PartitionRetriever`: the storage SCP, the concurrent studies, the summary and the
  error that ends a partition.

Resumable and idempotent
------------------------
The plan is recomputed at every run from the C-FIND answers and the spool index
(:meth:`SpoolStore.known_instances`): instances already received are never moved again. When a
move partly fails (warning/failure status with failed sub-operations, association abort, timeout),
what is still missing is recorded in ``retrieval_failure`` and only that is retried, with exponential
backoff, up to ``retrieval.max_retries`` times. A PACS that cannot be reached fails the partition with
:class:`PacsUnavailableError` after the bounded retries; everything received is kept and the next run
resumes. ``retrieval.concurrent_moves`` studies are moved at once, each on its own association,
into one storage SCP; ``retrieval.max_moves_per_minute`` spaces the move requests.

Receiving and durability
------------------------
The C-MOVE destination is served by the lean native acceptor by default
(``RetrievalOptions.storage_scp_engine``; ``"pynetdicom"`` is the fallback); C-GET receives on its
pynetdicom association. Received instances are indexed in batches, after their files and folders
are fsynced (:mod:`resources.pacs.storage_scp`), while the next moves go on; the writer is flushed
before a move's outcome is checked against the spool index and before the summary is returned, so
what this module counts as retrieved survives a crash. Planning reads only the spool index (never
``retrieval_failure``, which is a report), so an instance lost in a crash before it was indexed is
simply moved again by the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.c_get import CGetEngine
from resources.pacs.c_move import CMoveEngine
from resources.pacs.errors import (
    PacsError,
    PacsRefusedError,
    PacsUnavailableError,
    RetrievalIncompleteError,
)
from resources.pacs.move_engine import MoveEngine
from resources.pacs.move_retry import RetrievalCounters, StudyMoves
from resources.pacs.receiving_processes import ReceivingProcesses
from resources.pacs.retrieval_plan import Policy, StudyPlan, StudyPlanner
from resources.pacs.retry import BoundedRetry
from resources.pacs.spool_writer import SpoolWriter
from resources.pacs.storage_scp import Engine, StorageScp
from resources.pacs.throttle import MoveRateLimiter, check_allowed_window
from resources.site_config import TimeWindow
from resources.spool.pacs_index import IndexedStudy
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

Method = Literal["move", "get"]


@dataclass
class RetrievalSummary:
    """Counts only (safe for Dagster metadata)."""

    policy: str
    method: str
    studies: int = 0
    series: int = 0
    instances_expected: int = 0
    instances_retrieved: int = 0
    instances_already_present: int = 0
    instances_failed: int = 0
    bytes_retrieved: int = 0
    moves: int = 0
    retries: int = 0
    seconds: float = 0.0
    planning_s: float = 0.0  # image-level C-FINDs and the spool look-up, before the first move
    rate_limit_wait_s: float = 0.0

    @property
    def instances_per_s(self) -> float:
        return self.instances_retrieved / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RetrievalOptions:
    policy: Policy = "metadata"
    method: Method = "move"
    move_destination_ae_title: str = "DICOM_LAKE"
    storage_scp_bind: str = "127.0.0.1"
    storage_scp_port: int = 0
    storage_scp_engine: Engine = "native"
    max_retries: int = 3
    retry_backoff_s: float = 2.0
    concurrent_moves: int = 1
    # C-MOVE destination served by this many worker processes (0: in this process); None: one per
    # concurrent move when there are several (see resources.pacs.receiving_processes).
    receiving_processes: int | None = None
    max_moves_per_minute: float = 0.0
    allowed_windows: tuple[TimeWindow, ...] = ()


# (plan, instances still missing, reason) of each study that stayed incomplete
_Failure = tuple[StudyPlan, int, str]


class PartitionRetriever:
    """Runs the plan of one partition: storage SCP (for C-MOVE), moves, verification, retries.

    ``sleep`` and ``now`` are injectable for tests; ``writer`` lets a test interpose on received
    instances (e.g. abort mid-move).
    """

    def __init__(
        self,
        peer: PeerAddress,
        network: NetworkOptions,
        options: RetrievalOptions,
        spool: SpoolStore,
        partition_key: str,
        *,
        writer: SpoolWriter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.peer = peer
        self.network = network
        self.options = options
        self.spool = spool
        self.partition_key = partition_key
        self.writer = writer or SpoolWriter(spool, partition_key)
        self._writer_given = writer is not None
        # What receives the sub-operations: the in-process writer, or receiving processes (retrieve()).
        self.receiving: SpoolWriter | ReceivingProcesses = self.writer
        self._now = now
        self._lock = threading.Lock()  # the result lists shared by the move workers
        self.rate = MoveRateLimiter(options.max_moves_per_minute)
        self.counters = RetrievalCounters()
        self.retry = BoundedRetry(
            options.max_retries, options.retry_backoff_s, sleep=sleep, on_retry=self.counters.add_retry
        )
        self.planner = StudyPlanner(
            peer,
            network,
            spool,
            options.policy,
            need_sop_classes=options.method == "get",
            retry=self.retry,
            partition_key=partition_key,
        )

    # -- public ------------------------------------------------------------------------------------
    def retrieve(self, studies: Sequence[IndexedStudy]) -> RetrievalSummary:
        """Retrieve the given studies of the partition.

        Raises
        ------
        OutsideAllowedWindowError
            When called outside the allowed windows (fails fast; see :mod:`throttle`).
        PacsRefusedError
            When the PACS refuses our AE title, the query, or the move destination.
        PacsUnavailableError
            When the PACS stays unreachable through the bounded retries (what arrived is kept).
        RetrievalIncompleteError
            When some instances are still missing after the retries (what arrived is kept and the
            failures are recorded in ``retrieval_failure``).
        """
        began = time.monotonic()
        self._check_window()
        summary = RetrievalSummary(policy=self.options.policy, method=self.options.method)
        summary.studies = len(studies)
        summary.series = sum(len(s.series) for s in studies)
        processes = self.receiving_process_count()
        self.receiving = self.writer
        if processes and studies:
            self.receiving = ReceivingProcesses(
                self.spool,
                self.partition_key,
                processes=processes,
                ae_title=self.options.move_destination_ae_title,
                bind=self.options.storage_scp_bind,
                port=self.options.storage_scp_port,
                options=self.network,
            )
        self.receiving.accept_studies({s.study_uid for s in studies})
        moves = self._study_moves({s.study_uid: s for s in studies})
        # Each worker plans its study (image-level C-FINDs on its own association) and then moves it,
        # so with concurrent moves the planning of one study overlaps the moves of others.
        plans: list[StudyPlan] = []
        failures: list[_Failure] = []
        errors: list[PacsError] = []
        try:
            with self._storage_scp() if studies else contextlib.nullcontext():
                workers = max(1, min(self.options.concurrent_moves, len(studies) or 1))
                if workers == 1:
                    for study in studies:
                        self._collect(moves, study, plans, failures, errors)
                        if any(isinstance(e, PacsRefusedError | PacsUnavailableError) for e in errors):
                            break
                else:
                    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pacs-move") as pool:
                        list(pool.map(lambda s: self._collect(moves, s, plans, failures, errors), studies))
        finally:
            self.receiving.close()  # everything received indexed before the counts; C-GET has no SCP stop
        summary.planning_s = self.counters.planning_s
        summary.instances_expected = sum(p.expected + p.already_present for p in plans)
        summary.instances_already_present = sum(p.already_present for p in plans)
        summary.instances_retrieved = self.receiving.counters.received
        summary.bytes_retrieved = self.receiving.counters.bytes
        summary.instances_failed = sum(n for _, n, _ in failures)
        summary.moves = self.counters.moves
        summary.retries = self.counters.retries
        summary.rate_limit_wait_s = self.rate.waited_s
        summary.seconds = time.monotonic() - began
        self._raise_for_errors(summary, errors, failures)
        return summary

    def receiving_process_count(self) -> int:
        """How many worker processes receive the sub-operations (0: this process does).

        Only C-MOVE with the native storage SCP can use them, and not with a writer given by the caller.
        """
        if self.options.method != "move" or self.options.storage_scp_engine != "native" or self._writer_given:
            return 0
        wanted = self.options.receiving_processes
        if wanted is None:
            wanted = self.options.concurrent_moves if self.options.concurrent_moves > 1 else 0
        return max(0, wanted)

    # -- internals ---------------------------------------------------------------------------------
    def _engine(self) -> MoveEngine:
        if self.options.method == "move":
            return CMoveEngine(self.peer, self.network, self.options.move_destination_ae_title)
        return CGetEngine(self.peer, self.network, self.writer)

    def _study_moves(self, studies: dict[str, IndexedStudy]) -> StudyMoves:
        return StudyMoves(
            self._engine(),
            spool=self.spool,
            receiver=self.receiving,
            planner=self.planner,
            studies=studies,
            retry=self.retry,
            rate=self.rate,
            check_window=self._check_window,
            counters=self.counters,
            peer=self.peer,
            destination=self.options.move_destination_ae_title,
            partition_key=self.partition_key,
        )

    def _check_window(self) -> None:
        check_allowed_window(self.options.allowed_windows, self._now())

    @contextlib.contextmanager
    def _storage_scp(self) -> Iterator[None]:
        if self.options.method != "move":
            yield
            return
        scp: StorageScp | ReceivingProcesses
        if isinstance(self.receiving, ReceivingProcesses):
            scp = self.receiving
        else:
            scp = StorageScp(
                self.writer,
                ae_title=self.options.move_destination_ae_title,
                bind=self.options.storage_scp_bind,
                port=self.options.storage_scp_port,
                options=self.network,
                engine=self.options.storage_scp_engine,
            )
        try:
            scp.start()
        except OSError as exc:
            raise PacsError(
                f"our storage SCP could not listen on {self.options.storage_scp_bind}:"
                f"{self.options.storage_scp_port} for the C-MOVE sub-operations ({exc.strerror or exc}); "
                "another retrieval may hold the port: keep the 'pacs' pool limit at 1 per storage SCP port, "
                "or use pacs.retrieve_method: get"
            ) from exc
        try:
            yield
        finally:
            scp.stop()

    def _collect(
        self,
        moves: StudyMoves,
        study: IndexedStudy,
        plans: list[StudyPlan],
        failures: list[_Failure],
        errors: list[PacsError],
    ) -> None:
        try:
            began = time.monotonic()
            try:
                plan = self.planner.plan(study)
            finally:
                self.counters.add_planning(time.monotonic() - began)
            with self._lock:
                plans.append(plan)
            for uid, series_uid in plan.listed.items():
                self.receiving.expect(uid, plan.study_uid, series_uid)
            if not plan.items:
                return
            missing, reason = moves.run(plan)
        except PacsError as exc:
            with self._lock:
                errors.append(exc)
            return
        if missing:
            with self._lock:
                failures.append((plan, missing, reason))

    def _unwritten(self, count: int) -> str:
        """Why instances are missing when the spool itself refused them (disk full, permissions)."""
        free = ""
        with contextlib.suppress(OSError):
            free = f" ({shutil.disk_usage(self.spool.root).free / 1e6:.1f} MB free on its filesystem)"
        return f"the spool at {self.spool.root} refused {count} received instances, retries included{free}"

    def _raise_for_errors(
        self, summary: RetrievalSummary, errors: Sequence[PacsError], failures: Sequence[_Failure]
    ) -> None:
        """Raise the error that ends the partition (a refusal first), saying what is kept."""
        kept = f"{summary.instances_retrieved} instances received in this run are kept; a rerun resumes"
        unwritten = self.receiving.counters.failed
        if unwritten and (errors or failures):
            kept = f"{self._unwritten(unwritten)}; {kept}"
        for error in errors:
            if isinstance(error, PacsRefusedError):
                raise PacsRefusedError(f"{error}; {kept}") from error
        for error in errors:
            if isinstance(error, PacsUnavailableError):
                raise PacsUnavailableError(f"{error}; {kept}") from error
        for error in errors:
            raise type(error)(f"{error}; {kept}") from error
        if failures:
            raise RetrievalIncompleteError(
                f"partition {self.partition_key}: {summary.instances_failed} instances of {len(failures)} "
                f"studies still missing after {self.options.max_retries} retries "
                f"(see retrieval_failure); {kept}"
            )
