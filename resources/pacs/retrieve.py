"""Retrieval of a partition's selected studies into the spool, by C-MOVE (default) or C-GET.

Policies
--------
``metadata`` (default)
    Every dose-report series (X-Ray RDSR, Radiopharmaceutical RDSR, Patient Radiation Dose SR, and
    Enhanced/Comprehensive SR that look like dose or cannot be ruled out) in full, plus the FIRST
    instance (lowest InstanceNumber) of each image series, found with an image-level C-FIND. For CT
    studies that have NO dose-report series, the LAST instance (highest InstanceNumber) of each CT
    image series is fetched too, so the dose stage can estimate the scan length from the first and
    last slice positions. Non-dose SR series are skipped. Where the PACS answers nothing at image
    level for an image series, the whole series is retrieved (we cannot pick one instance blind).
``full``
    Every instance of every selected series.

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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from pydicom.dataset import Dataset
from pynetdicom import Association, build_context, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from resources.dicom_network.association import (
    NetworkOptions,
    PeerAddress,
    associate,
    make_ae,
    release_quietly,
)
from resources.dicom_network.requestor import AssociationLost, NativeAssociation
from resources.pacs.errors import (
    PacsError,
    PacsRefusedError,
    PacsUnavailableError,
    RetrievalIncompleteError,
)
from resources.pacs.query import InstanceRow, PacsQuerier
from resources.pacs.receiving_processes import ReceivingProcesses
from resources.pacs.storage_scp import Engine, SpoolWriter, StorageScp
from resources.pacs.study_index import IndexedSeries, IndexedStudy
from resources.pacs.throttle import MoveRateLimiter, check_allowed_window
from resources.site_config import TimeWindow
from resources.sop_classes import (
    COMPREHENSIVE_SR,
    ENHANCED_SR,
    RADIOPHARMACEUTICAL_RADIATION_DOSE_SR,
    XRAY_RADIATION_DOSE_SR,
)
from resources.spool import SpoolStore, utc_now

log = logging.getLogger(__name__)

Policy = Literal["metadata", "full"]
Method = Literal["move", "get"]

_PENDING = (0xFF00, 0xFF01)
_MOVE = str(StudyRootQueryRetrieveInformationModelMove)
_UID_BATCH = 100  # SOP Instance UIDs per image-level move (a UID list request)
# Storage SOP classes proposed on a C-GET association besides those seen at image level.
_COMMON_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # CR Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray for presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography for presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography for processing
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic
    "1.2.840.10008.5.1.4.1.1.20",  # NM Image
    "1.2.840.10008.5.1.4.1.1.128",  # PET Image
    "1.2.840.10008.5.1.4.1.1.6.1",  # US Image
    XRAY_RADIATION_DOSE_SR,
    RADIOPHARMACEUTICAL_RADIATION_DOSE_SR,
    ENHANCED_SR,
    COMPREHENSIVE_SR,
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
)


@dataclass(frozen=True)
class MoveItem:
    """One retrieve request: a whole study, a whole series, or a list of instances of one series."""

    study_uid: str
    series_uid: str | None = None
    sop_uids: tuple[str, ...] = ()
    expected: int | None = None  # how many instances the item should bring, when known

    @property
    def level(self) -> str:
        if self.sop_uids:
            return "IMAGE"
        return "SERIES" if self.series_uid else "STUDY"

    def identifier(self) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level
        ds.StudyInstanceUID = self.study_uid
        if self.series_uid:
            ds.SeriesInstanceUID = self.series_uid
        if self.sop_uids:
            ds.SOPInstanceUID = list(self.sop_uids) if len(self.sop_uids) > 1 else self.sop_uids[0]
        return ds


@dataclass
class StudyPlan:
    """What to fetch for one study; ``listed`` maps SOP UID -> series for instances known by UID."""

    study_uid: str
    items: list[MoveItem] = field(default_factory=list)
    listed: dict[str, str] = field(default_factory=dict)
    unlisted_expected: int = 0  # instances in whole-series items the PACS did not list
    already_present: int = 0
    sop_classes: set[str] = field(default_factory=set)

    @property
    def expected(self) -> int:
        return len(self.listed) + self.unlisted_expected


@dataclass
class MoveOutcome:
    status: int | None  # None: no final response (abort, timeout)
    completed: int = 0
    failed: int = 0
    warning: int = 0


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


def _sorted_instances(instances: Sequence[InstanceRow]) -> list[InstanceRow]:
    # Instances without InstanceNumber sort after numbered ones, then by UID for determinism.
    return sorted(
        instances,
        key=lambda i: (i.instance_number is None, i.instance_number or 0, i.sop_instance_uid),
    )


def series_known_count(spool: SpoolStore, series_uid: str) -> int:
    with spool.connect() as con:
        row = con.execute(
            "SELECT count(*) FROM spool_instance WHERE series_uid = ?", (series_uid,)
        ).fetchone()
    return int(row[0])


def study_known_count(spool: SpoolStore, study_uid: str) -> int:
    with spool.connect() as con:
        row = con.execute("SELECT count(*) FROM spool_instance WHERE study_uid = ?", (study_uid,)).fetchone()
    return int(row[0])


def plan_study(
    querier: PacsQuerier,
    spool: SpoolStore,
    study: IndexedStudy,
    policy: Policy,
    *,
    allow_unlisted_study_move: bool = True,
    need_sop_classes: bool = False,
) -> StudyPlan:
    """Decide what to fetch for one study (see the module docstring for the policies).

    Under ``full``, a study of which nothing is in the spool yet is moved whole without listing its
    instances first (image-level C-FINDs would cost more than they save); if that move fails, the
    retry re-plans with ``allow_unlisted_study_move=False`` and moves only what is missing.
    ``need_sop_classes`` (C-GET, which must propose each storage SOP class) asks the image-level
    C-FINDs for SOP Class UID; a C-MOVE leaves it out of image series' queries, which spares
    archives that read it from the stored files.
    """
    plan = StudyPlan(study_uid=study.study_uid)
    if (
        policy == "full"
        and allow_unlisted_study_move
        and study.n_instances
        and study_known_count(spool, study.study_uid) == 0
    ):
        plan.unlisted_expected = study.n_instances
        plan.items.append(MoveItem(study.study_uid, expected=study.n_instances))
        return plan
    has_dose_report = any(s.is_dose_report for s in study.series)
    is_ct_study = "CT" in study.modalities or any((s.modality or "").upper() == "CT" for s in study.series)
    want_last_ct = policy == "metadata" and is_ct_study and not has_dose_report
    all_listed_and_new = True
    wanted_by_series: list[tuple[IndexedSeries, list[InstanceRow] | None]] = []
    for series in study.series:
        modality = (series.modality or "").upper()
        if policy == "metadata" and modality == "SR" and not series.is_dose_report:
            continue
        instances = querier.find_instances(
            study.study_uid, series.series_uid, sop_class=need_sop_classes or modality == "SR"
        )
        plan.sop_classes.update(i.sop_class_uid for i in instances if i.sop_class_uid)
        if not instances:
            all_listed_and_new = False
            wanted_by_series.append((series, None))
            continue
        if policy == "metadata" and not series.is_dose_report and modality != "SR":
            ordered = _sorted_instances(instances)
            picked = [ordered[0]]
            if want_last_ct and modality == "CT" and len(ordered) > 1:
                picked.append(ordered[-1])
            instances = picked
        wanted_by_series.append((series, list(instances)))
    listed_uids = [i.sop_instance_uid for _, rows in wanted_by_series if rows for i in rows]
    known = spool.known_instances(listed_uids)
    plan.already_present = len(known)
    if policy == "full" and all_listed_and_new and not known and wanted_by_series:
        # Nothing of this study yet and every series listed: one study-level move is cheapest.
        for series, rows in wanted_by_series:
            for row in rows or []:
                plan.listed[row.sop_instance_uid] = series.series_uid
        plan.items.append(MoveItem(study.study_uid, expected=len(plan.listed)))
        return plan
    for series, rows in wanted_by_series:
        if rows is None:
            have = series_known_count(spool, series.series_uid)
            if series.n_instances and have >= series.n_instances:
                plan.already_present += have
                continue
            plan.unlisted_expected += max(int(series.n_instances or 0) - have, 0)
            plan.already_present += have
            plan.items.append(MoveItem(study.study_uid, series.series_uid, expected=series.n_instances))
            continue
        missing = [r.sop_instance_uid for r in rows if r.sop_instance_uid not in known]
        for uid in missing:
            plan.listed[uid] = series.series_uid
        plan.items.extend(_image_items(study.study_uid, series.series_uid, missing))
    return plan


def _image_items(study_uid: str, series_uid: str, sop_uids: Sequence[str]) -> list[MoveItem]:
    return [
        MoveItem(
            study_uid,
            series_uid,
            tuple(sop_uids[i : i + _UID_BATCH]),
            expected=len(sop_uids[i : i + _UID_BATCH]),
        )
        for i in range(0, len(sop_uids), _UID_BATCH)
    ]


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
        self._sleep = sleep
        self._now = now
        self.rate = MoveRateLimiter(options.max_moves_per_minute)
        self._lock = threading.Lock()
        self._moves = 0
        self._retries = 0
        self._studies: dict[str, IndexedStudy] = {}
        self._planning_s = 0.0

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
        self._studies = {s.study_uid: s for s in studies}
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
        self.receiving.accept_studies(set(self._studies))
        # Each worker plans its study (image-level C-FINDs on its own association) and then moves it,
        # so with concurrent moves the planning of one study overlaps the moves of others.
        plans: list[StudyPlan] = []
        failures: list[tuple[StudyPlan, int, str]] = []
        errors: list[PacsError] = []
        try:
            with self._storage_scp() if studies else contextlib.nullcontext():
                workers = max(1, min(self.options.concurrent_moves, len(studies) or 1))
                if workers == 1:
                    for study in studies:
                        self._collect(study, plans, failures, errors)
                        if any(isinstance(e, PacsRefusedError | PacsUnavailableError) for e in errors):
                            break
                else:
                    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pacs-move") as pool:
                        list(pool.map(lambda study: self._collect(study, plans, failures, errors), studies))
        finally:
            self.receiving.close()  # everything received indexed before the counts; C-GET has no SCP stop
        summary.planning_s = self._planning_s
        summary.instances_expected = sum(p.expected + p.already_present for p in plans)
        summary.instances_already_present = sum(p.already_present for p in plans)
        summary.instances_retrieved = self.receiving.counters.received
        summary.bytes_retrieved = self.receiving.counters.bytes
        summary.instances_failed = sum(n for _, n, _ in failures)
        summary.moves = self._moves
        summary.retries = self._retries
        summary.rate_limit_wait_s = self.rate.waited_s
        summary.seconds = time.monotonic() - began
        kept = f"{summary.instances_retrieved} instances received in this run are kept; a rerun resumes"
        for error in errors:
            if isinstance(error, PacsRefusedError):
                raise PacsRefusedError(f"{error}; {kept}")
        for error in errors:
            if isinstance(error, PacsUnavailableError):
                raise PacsUnavailableError(f"{error}; {kept}")
        for error in errors:
            raise type(error)(f"{error}; {kept}")
        if failures:
            raise RetrievalIncompleteError(
                f"partition {self.partition_key}: {summary.instances_failed} instances of {len(failures)} "
                f"studies still missing after {self.options.max_retries} retries "
                f"(see retrieval_failure); {kept}"
            )
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
    def _plan_with_retries(self, study: IndexedStudy) -> StudyPlan:
        """Plan one study (image-level C-FINDs), retrying a PACS that is down with backoff."""
        began = time.monotonic()
        try:
            return self._plan_attempts(study)
        finally:
            with self._lock:
                self._planning_s += time.monotonic() - began

    def _plan_attempts(self, study: IndexedStudy) -> StudyPlan:
        attempts = self.options.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                with self._lock:
                    self._retries += 1
                self._sleep(self.options.retry_backoff_s * (2 ** (attempt - 1)))
            try:
                with PacsQuerier(self.peer, self.network) as querier:
                    return plan_study(
                        querier,
                        self.spool,
                        study,
                        self.options.policy,
                        need_sop_classes=self.options.method == "get",
                    )
            except PacsUnavailableError as exc:
                log.warning("partition %s: planning attempt %d: %s", self.partition_key, attempt + 1, exc)
                if attempt == attempts - 1:
                    raise PacsUnavailableError(
                        f"{exc} (gave up after {attempts} attempts while planning study {study.study_uid})"
                    ) from None
        raise AssertionError("unreachable")

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
        study: IndexedStudy,
        plans: list[StudyPlan],
        failures: list[tuple[StudyPlan, int, str]],
        errors: list[PacsError],
    ) -> None:
        try:
            plan = self._plan_with_retries(study)
            with self._lock:
                plans.append(plan)
            for uid, series_uid in plan.listed.items():
                self.receiving.expect(uid, plan.study_uid, series_uid)
            if not plan.items:
                return
            missing, reason = self._retrieve_study(plan)
        except PacsError as exc:
            with self._lock:
                errors.append(exc)
            return
        if missing:
            with self._lock:
                failures.append((plan, missing, reason))

    def _retrieve_study(self, plan: StudyPlan) -> tuple[int, str]:
        """Run a study's items with retries; returns (instances still missing, last reason)."""
        items = list(plan.items)
        reason = ""
        unavailable: PacsUnavailableError | None = None
        for attempt in range(self.options.max_retries + 1):
            if attempt:
                with self._lock:
                    self._retries += 1
                self._sleep(self.options.retry_backoff_s * (2 ** (attempt - 1)))
                self._check_window()
            outcomes: dict[MoveItem, MoveOutcome] = {}
            try:
                self._run_items(plan, items, outcomes)
                unavailable = None
            except PacsUnavailableError as exc:
                unavailable = exc
                reason = "PACS unavailable"
                log.warning("study %s: attempt %d: %s", plan.study_uid, attempt + 1, exc)
            items, missing, item_reason = self._still_missing(plan, items, outcomes)
            reason = item_reason or reason
            if not items:
                self._clear_failures(plan.study_uid)
                return 0, ""
            self._record_failures(plan, items, reason)
            if unavailable is None and any(i.level == "STUDY" and not plan.listed for i in items):
                # A whole-study move failed part-way: list the study so the retry moves only what is missing.
                plan, items = self._replan(plan)
                if not items:
                    self._clear_failures(plan.study_uid)
                    return 0, ""
        if unavailable is not None:
            raise PacsUnavailableError(
                f"{unavailable} (gave up after {self.options.max_retries + 1} attempts)"
            )
        return missing, reason

    def _replan(self, plan: StudyPlan) -> tuple[StudyPlan, list[MoveItem]]:
        study = self._studies[plan.study_uid]
        with PacsQuerier(self.peer, self.network) as querier:
            fresh = plan_study(
                querier,
                self.spool,
                study,
                self.options.policy,
                allow_unlisted_study_move=False,
                need_sop_classes=self.options.method == "get",
            )
        for uid, series_uid in fresh.listed.items():
            self.receiving.expect(uid, fresh.study_uid, series_uid)
        return fresh, list(fresh.items)

    def _run_items(
        self, plan: StudyPlan, items: Sequence[MoveItem], outcomes: dict[MoveItem, MoveOutcome]
    ) -> None:
        assoc = self._open(plan)
        try:
            for item in items:
                self._check_window()
                self.rate.acquire()
                outcome = self._send(assoc, item)
                outcomes[item] = outcome
                with self._lock:
                    self._moves += 1
                if outcome.status is None:
                    raise PacsUnavailableError(
                        f"PACS {self.peer.describe()}: {item.level}-level "
                        f"{'C-MOVE' if self.options.method == 'move' else 'C-GET'} of study {plan.study_uid} "
                        "got no final response (association aborted or timed out)"
                    )
                if outcome.status == 0xA801:
                    raise PacsRefusedError(
                        f"PACS {self.peer.describe()} does not know the move destination "
                        f"{self.options.move_destination_ae_title!r} (status 0xA801); register it with our "
                        "host and storage SCP port on the PACS"
                    )
                if outcome.status in (0x0122, 0x0124):
                    raise PacsRefusedError(
                        f"PACS {self.peer.describe()} refused the retrieve request (status "
                        f"0x{outcome.status:04X}); check that our AE title may retrieve"
                    )
        finally:
            if isinstance(assoc, NativeAssociation):
                assoc.release()
            else:
                release_quietly(assoc)

    def _open(self, plan: StudyPlan) -> Association | NativeAssociation:
        if self.options.method == "move" and self.network.scu_engine == "native":
            return NativeAssociation(self.peer, self.network, [_MOVE]).open()
        ae = make_ae(self.peer.calling_ae_title, self.network)
        if self.options.method == "move":
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            return associate(ae, self.peer, self.network)
        classes = list(dict.fromkeys([*sorted(plan.sop_classes), *_COMMON_STORAGE_CLASSES]))[:120]
        contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
        contexts += [build_context(uid) for uid in classes]
        roles = [build_role(uid, scp_role=True) for uid in classes]
        return associate(
            ae,
            self.peer,
            self.network,
            contexts=contexts,
            ext_neg=roles,
            evt_handlers=[(evt.EVT_C_STORE, self.writer.handle_store)],
        )

    def _send(self, assoc: Association | NativeAssociation, item: MoveItem) -> MoveOutcome:
        if isinstance(assoc, NativeAssociation):
            return self._send_native(assoc, item)
        if self.options.method == "move":
            responses = assoc.send_c_move(
                item.identifier(),
                self.options.move_destination_ae_title,
                StudyRootQueryRetrieveInformationModelMove,
            )
        else:
            responses = assoc.send_c_get(item.identifier(), StudyRootQueryRetrieveInformationModelGet)
        outcome = MoveOutcome(status=None)
        for status, _identifier in responses:
            if not status:
                return MoveOutcome(status=None)
            code = int(status.Status)
            outcome.completed = int(status.get("NumberOfCompletedSuboperations", outcome.completed) or 0)
            outcome.failed = int(status.get("NumberOfFailedSuboperations", outcome.failed) or 0)
            outcome.warning = int(status.get("NumberOfWarningSuboperations", outcome.warning) or 0)
            if code not in _PENDING:
                outcome.status = code
        return outcome

    def _send_native(self, assoc: NativeAssociation, item: MoveItem) -> MoveOutcome:
        outcome = MoveOutcome(status=None)
        destination = self.options.move_destination_ae_title
        try:
            for rsp in assoc.move(_MOVE, item.identifier(), destination):
                # Counts are optional in pending responses (PS3.7 C.4.2.1.6): keep the last ones given.
                outcome.completed = rsp.completed if rsp.completed is not None else outcome.completed
                outcome.failed = rsp.failed if rsp.failed is not None else outcome.failed
                outcome.warning = rsp.warning if rsp.warning is not None else outcome.warning
                if rsp.status not in _PENDING:
                    outcome.status = rsp.status
        except AssociationLost as exc:
            log.warning("%s-level C-MOVE of study %s: %s", item.level, item.study_uid, exc)
            return MoveOutcome(status=None)
        return outcome

    def _still_missing(
        self, plan: StudyPlan, items: Sequence[MoveItem], outcomes: dict[MoveItem, MoveOutcome]
    ) -> tuple[list[MoveItem], int, str]:
        """Which items still need work, and how many instances are missing."""
        if any(_checked_against_spool(plan, item, outcomes.get(item)) for item in items):
            # What the moves brought is indexed only once durable: wait for it before looking.
            self.receiving.flush()
        remaining: list[MoveItem] = []
        missing_total = 0
        reason = ""
        for item in items:
            outcome = outcomes.get(item)
            if item.sop_uids or (item.level == "STUDY" and plan.listed):
                wanted = list(item.sop_uids) or [u for u, s in plan.listed.items()]
                known = self.spool.known_instances(wanted)
                lost = [u for u in wanted if u not in known]
                if not lost:
                    continue
                missing_total += len(lost)
                reason = _reason(outcome)
                by_series: dict[str, list[str]] = {}
                for uid in lost:
                    by_series.setdefault(plan.listed.get(uid, item.series_uid or ""), []).append(uid)
                for series_uid, uids in by_series.items():
                    remaining.extend(_image_items(plan.study_uid, series_uid, uids))
                continue
            # Whole series/study not listed: trust the final status and the sub-operation counts.
            if outcome is not None and outcome.status == 0x0000 and outcome.failed == 0:
                continue
            if (
                item.level == "STUDY"
                and item.expected
                and study_known_count(self.spool, item.study_uid) >= item.expected
            ):
                continue
            if (
                item.series_uid
                and item.expected
                and series_known_count(self.spool, item.series_uid) >= item.expected
            ):
                continue
            missing_total += outcome.failed if outcome and outcome.failed else int(item.expected or 1)
            reason = _reason(outcome)
            remaining.append(item)
        return remaining, missing_total, reason

    def _record_failures(self, plan: StudyPlan, items: Sequence[MoveItem], reason: str) -> None:
        now = utc_now()
        rows: list[tuple[str, str, str, str, str, str]] = []
        for item in items:
            for uid in item.sop_uids or ("",):
                rows.append((self.partition_key, plan.study_uid, item.series_uid or "", uid, reason, now))
        with self.spool.connect() as con:
            con.executemany(
                """INSERT INTO retrieval_failure (partition_key, study_uid, series_uid, sop_instance_uid,
                       reason, attempts, last_attempt_at) VALUES (?,?,?,?,?,1,?)
                   ON CONFLICT(study_uid, series_uid, sop_instance_uid) DO UPDATE SET
                       reason=excluded.reason, attempts=attempts+1,
                       last_attempt_at=excluded.last_attempt_at""",
                rows,
            )

    def _clear_failures(self, study_uid: str) -> None:
        with self.spool.connect() as con:
            con.execute("DELETE FROM retrieval_failure WHERE study_uid = ?", (study_uid,))


def _checked_against_spool(plan: StudyPlan, item: MoveItem, outcome: MoveOutcome | None) -> bool:
    """Whether :meth:`PartitionRetriever._still_missing` reads the spool index to judge ``item``."""
    if item.sop_uids or (item.level == "STUDY" and plan.listed):
        return True
    return not (outcome is not None and outcome.status == 0x0000 and outcome.failed == 0)


def _reason(outcome: MoveOutcome | None) -> str:
    if outcome is None:
        return "not attempted (association lost earlier in the study)"
    if outcome.status is None:
        return "association aborted or timed out"
    if outcome.failed:
        return f"status 0x{outcome.status:04X}, {outcome.failed} failed sub-operations"
    return f"status 0x{outcome.status:04X}"
