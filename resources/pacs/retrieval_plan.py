"""Planning: what to move for one study, from the study index, the spool and the retrieval policy.

Policies
--------
``metadata`` (default)
    Every dose-report series (X-Ray RDSR, Radiopharmaceutical RDSR, Patient Radiation Dose SR, and
    Enhanced/Comprehensive SR that look like dose or cannot be ruled out) in full, plus the FIRST
    instance (lowest InstanceNumber) of each image series, found with an image-level C-FIND. For CT
    studies that have NO dose-report series, the LAST instance (highest InstanceNumber) of each CT
    image series is fetched too, so the dose stage can estimate the scan length from the first and
    last slice positions. Mammography (MG) image series are fetched whole, every instance: each
    mammogram carries its own exposure (thickness, force, kVp, mAs, target/filter, organ dose), so the
    first one says nothing about the others; an MG study costs what full retrieval of its MG series
    costs (``benchmarks/mammography.py`` measures it). Non-dose SR series are skipped. Where the PACS
    answers nothing at image level for an image series, the whole series is retrieved (we cannot pick
    one instance blind).
``full``
    Every instance of every selected series.

The plan is recomputed at every run from the C-FIND answers and the spool index
(:meth:`SpoolStore.known_instances`): instances already received are never planned again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydicom.dataset import Dataset

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.errors import PacsUnavailableError
from resources.pacs.find_results import InstanceRow
from resources.pacs.query import PacsQuerier
from resources.pacs.retry import BoundedRetry
from resources.spool.pacs_index import IndexedSeries, IndexedStudy
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

Policy = Literal["metadata", "full"]

UID_BATCH = 100  # SOP Instance UIDs per image-level move (a UID list request)
# Series the metadata policy fetches whole: dose SRs are listed by modality SR; MG, because every image
# of a mammogram carries its own exposure and dose.
EVERY_INSTANCE_MODALITIES = frozenset({"SR", "MG"})


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


def image_items(study_uid: str, series_uid: str, sop_uids: Sequence[str]) -> list[MoveItem]:
    """Image-level items for these instances of one series, :data:`UID_BATCH` UIDs per request."""
    return [
        MoveItem(
            study_uid,
            series_uid,
            tuple(sop_uids[i : i + UID_BATCH]),
            expected=len(sop_uids[i : i + UID_BATCH]),
        )
        for i in range(0, len(sop_uids), UID_BATCH)
    ]


def _sorted_instances(instances: Sequence[InstanceRow]) -> list[InstanceRow]:
    # Instances without InstanceNumber sort after numbered ones, then by UID for determinism.
    return sorted(
        instances,
        key=lambda i: (i.instance_number is None, i.instance_number or 0, i.sop_instance_uid),
    )


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
        and spool.study_instance_count(study.study_uid) == 0
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
        if policy == "metadata" and not series.is_dose_report and modality not in EVERY_INSTANCE_MODALITIES:
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
            have = spool.series_instance_count(series.series_uid)
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
        plan.items.extend(image_items(study.study_uid, series.series_uid, missing))
    return plan


class StudyPlanner:
    """Plans studies on fresh C-FIND associations, retrying a PACS that is down (:class:`BoundedRetry`)."""

    def __init__(
        self,
        peer: PeerAddress,
        network: NetworkOptions,
        spool: SpoolStore,
        policy: Policy,
        *,
        need_sop_classes: bool,
        retry: BoundedRetry,
        partition_key: str,
    ) -> None:
        self.peer = peer
        self.network = network
        self.spool = spool
        self.policy = policy
        self.need_sop_classes = need_sop_classes
        self.retry = retry
        self.partition_key = partition_key

    def plan(self, study: IndexedStudy) -> StudyPlan:
        """Plan one study (image-level C-FINDs), with the bounded retries.

        Raises
        ------
        PacsUnavailableError
            When the PACS stays unreachable through every attempt.
        PacsRefusedError
            When the PACS refuses our queries (not retried).
        """
        for attempt in self.retry:
            try:
                with PacsQuerier(self.peer, self.network) as querier:
                    return plan_study(
                        querier, self.spool, study, self.policy, need_sop_classes=self.need_sop_classes
                    )
            except PacsUnavailableError as exc:
                log.warning(
                    "partition %s: planning attempt %d: %s", self.partition_key, attempt.number + 1, exc
                )
                if attempt.last:
                    raise PacsUnavailableError(
                        f"{exc} (gave up after {self.retry.attempts} attempts while planning study "
                        f"{study.study_uid})"
                    ) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def replan(self, study: IndexedStudy) -> StudyPlan:
        """Plan a study again, listing it even under ``full`` (a whole-study move failed part-way).

        Raises
        ------
        PacsError
            When the PACS cannot be queried (no retry here: the move's own retries go on).
        """
        with PacsQuerier(self.peer, self.network) as querier:
            return plan_study(
                querier,
                self.spool,
                study,
                self.policy,
                allow_unlisted_study_move=False,
                need_sop_classes=self.need_sop_classes,
            )
