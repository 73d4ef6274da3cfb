"""The index stage: what the PACS holds for a partition, selected and recorded in the spool index.

A rerun replaces the partition's rows in one transaction (:meth:`SpoolStore.record_pacs_studies`).
SR series are classified here (image-level C-FIND for their SOP class) so the retrieval stage knows
the dose reports without asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from resources.pacs.find_results import SeriesRow, StudyIndex, StudyRow
from resources.pacs.query import PacsQuerier
from resources.pacs.selection import StudySelector, classify_series
from resources.partition_keys import parse as parse_partition_key
from resources.spool.pacs_index import IndexedStudy, PacsSeriesEntry, PacsStudyEntry
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)


@dataclass
class IndexSummary:
    """Counts only (safe for Dagster metadata)."""

    studies_found: int = 0
    studies_selected: int = 0
    series: int = 0
    series_selected: int = 0
    dose_report_series: int = 0
    instances_reported: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    sr_series_without_image_answer: int = 0


def partition_date_to_dicom(partition_key: str) -> str:
    """``2026-11-09`` (or ``2026-11-09|east``, a source's partition) -> ``20261109``.

    Raises
    ------
    PartitionKeyError
        If the partition key does not start with an ISO date.
    """
    return parse_partition_key(partition_key).day.strftime("%Y%m%d")


def find_partition_studies(
    querier: PacsQuerier,
    partition_key: str,
    *,
    cohort: Sequence[str] | None = None,
    cohort_key: str = "accession_number",
) -> list[StudyRow]:
    """STUDY-level C-FIND for the partition date, or one query per cohort identifier on that date.

    In cohort mode each identifier is matched together with the partition's study date, so a backfill
    over a date range pulls exactly the cohort's studies of those dates.
    """
    date = partition_date_to_dicom(partition_key)
    if cohort is None:
        return querier.find_studies(study_date=date)
    found: dict[str, StudyRow] = {}
    for identifier in cohort:
        if cohort_key == "patient_id":
            rows = querier.find_studies(study_date=date, patient_id=identifier)
        else:
            rows = querier.find_studies(study_date=date, accession_number=identifier)
        for row in rows:
            found.setdefault(row.study_uid, row)
    return list(found.values())


def index_partition(
    querier: PacsQuerier,
    spool: SpoolStore,
    partition_key: str,
    selector: StudySelector,
    *,
    cohort: Sequence[str] | None = None,
    cohort_key: str = "accession_number",
) -> IndexSummary:
    """Query the PACS for the partition, select studies, and replace the partition's index rows."""
    summary = IndexSummary()
    date = partition_date_to_dicom(partition_key)
    studies = find_partition_studies(querier, partition_key, cohort=cohort, cohort_key=cohort_key)
    # Some archives match a date loosely; keep only the partition's own date.
    studies = [s for s in studies if (s.study_date or date) == date]
    summary.studies_found = len(studies)
    studies = _not_held_by_another_source(spool, partition_key, studies, summary)
    study_entries: list[PacsStudyEntry] = []
    series_entries: list[PacsSeriesEntry] = []
    for study in studies:
        indexed: StudyIndex = querier.index_study(study)
        decision = selector.decide(indexed)
        summary.series += len(indexed.series)
        if decision.selected:
            summary.studies_selected += 1
            summary.series_selected += len(indexed.series)
        else:
            summary.skipped_reasons[decision.reason] = summary.skipped_reasons.get(decision.reason, 0) + 1
        n_instances = study.n_instances
        if n_instances is None and all(s.n_instances is not None for s in indexed.series) and indexed.series:
            n_instances = sum(int(s.n_instances or 0) for s in indexed.series)
        summary.instances_reported += int(n_instances or 0) if decision.selected else 0
        study_entries.append(
            PacsStudyEntry(
                study_uid=study.study_uid,
                accession_number=study.accession_number,
                study_date=study.study_date,
                study_time=study.study_time,
                modalities=indexed.modalities,
                study_description=study.study_description,
                station_names=indexed.station_names,
                n_series=study.n_series if study.n_series is not None else len(indexed.series),
                n_instances=n_instances,
                selected=decision.selected,
                selection_reason=decision.reason,
            )
        )
        for series in indexed.series:
            is_dose, sop_class = _classify_for_index(querier, series, decision.selected, summary)
            summary.dose_report_series += int(is_dose and decision.selected)
            series_entries.append(
                PacsSeriesEntry(
                    series_uid=series.series_uid,
                    study_uid=study.study_uid,
                    modality=series.modality,
                    series_number=series.series_number,
                    series_description=series.series_description,
                    station_name=series.station_name,
                    sop_class_uid=sop_class,
                    n_instances=series.n_instances,
                    is_dose_report=is_dose,
                )
            )
    spool.record_pacs_studies(partition_key, study_entries, series_entries)
    log.info(
        "partition %s: %d studies found, %d selected, %d series",
        partition_key,
        summary.studies_found,
        summary.studies_selected,
        summary.series,
    )
    return summary


HELD_BY_ANOTHER_SOURCE = "indexed already from another source on this date"


def _not_held_by_another_source(
    spool: SpoolStore, partition_key: str, studies: list[StudyRow], summary: IndexSummary
) -> list[StudyRow]:
    """Leave out studies that another source's partition of the same date holds already.

    A study replicated in two archives is pulled once, from the source that indexed it first: the
    spool, the research store and the warehouse keep one copy per Study Instance UID, and a second
    copy would move it between partitions or collide in the curated tables. Counted as a skip reason.
    """
    here = parse_partition_key(partition_key)
    if here.source is None:
        return studies
    held = {
        uid
        for uid, key in spool.pacs_study_partitions([s.study_uid for s in studies]).items()
        if key != partition_key
        and (other := parse_partition_key(key)).day == here.day
        and other.source != here.source
    }
    if held:
        summary.skipped_reasons[HELD_BY_ANOTHER_SOURCE] = len(held)
        log.info(
            "partition %s: %d studies held by another source's partition, not indexed",
            partition_key,
            len(held),
        )
    return [s for s in studies if s.study_uid not in held]


def _classify_for_index(
    querier: PacsQuerier, series: SeriesRow, selected: bool, summary: IndexSummary
) -> tuple[bool, str | None]:
    if (series.modality or "").upper() != "SR" or not selected:
        return False, None
    instances = querier.find_instances(series.study_uid, series.series_uid)
    if not instances:
        summary.sr_series_without_image_answer += 1
    kind = classify_series(series, instances)
    return kind.is_dose_report, kind.sop_class_uid


def read_partition_index(spool: SpoolStore, partition_key: str) -> list[IndexedStudy]:
    """The selected studies of a partition with their series, as the index stage recorded them."""
    return spool.selected_pacs_studies(partition_key)
