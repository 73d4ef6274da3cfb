"""A study two sources both hold (a replicated archive) is indexed, and so pulled, once."""

from __future__ import annotations

from pathlib import Path

from resources.pacs.query import PacsQuerier
from resources.pacs.selection import StudySelector
from resources.pacs.study_index import (
    HELD_BY_ANOTHER_SOURCE,
    IndexSummary,
    index_partition,
    read_partition_index,
)
from resources.spool import SpoolStore
from tests.retrieval.conftest import PARTITION, RunningDemo

CT_ONLY = StudySelector(modalities=["CT"])


def _index(demo: RunningDemo, spool: SpoolStore, key: str) -> IndexSummary:
    with PacsQuerier(demo.peer, demo.network) as querier:
        return index_partition(querier, spool, key, CT_ONLY)


def test_the_second_source_leaves_the_first_sources_studies_alone(demo: RunningDemo, tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    west, east = f"{PARTITION}|west", f"{PARTITION}|east"
    first = _index(demo, spool, west)
    held = {s.study_uid for s in read_partition_index(spool, west)}
    assert held and first.studies_selected == len(held)

    second = _index(demo, spool, east)
    assert read_partition_index(spool, east) == []
    assert second.skipped_reasons[HELD_BY_ANOTHER_SOURCE] == first.studies_found
    assert {s.study_uid for s in read_partition_index(spool, west)} == held, "west keeps its studies"

    again = _index(demo, spool, west)  # a rerun of the first source replaces its own rows as before
    assert {s.study_uid for s in read_partition_index(spool, west)} == held
    assert HELD_BY_ANOTHER_SOURCE not in again.skipped_reasons


def test_one_source_partitions_are_not_concerned(demo: RunningDemo, tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    _index(demo, spool, PARTITION)
    summary = _index(demo, spool, PARTITION)
    assert HELD_BY_ANOTHER_SOURCE not in summary.skipped_reasons
    assert read_partition_index(spool, PARTITION)
