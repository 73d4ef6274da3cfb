"""The per-study and per-series summaries curation keeps while it streams a partition's instances.

Instance rows are written as they are read; a series or study row needs every instance first (counts,
the most common body part, every description to map an examination name from), so the little each
needs (a few hundred bytes per series, not per instance) is kept here until the partition ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from resources.curation.curated_rows import series_fields, study_fields


@dataclass
class SeriesSummary:
    """The first instance's series fields, the series' device and its instance count."""

    study_uid: str
    device_key: str | None
    first: dict[str, Any]
    n_instances: int = 0


@dataclass
class StudySummary:
    """The first instance's study fields and what the study's series add up to."""

    first: dict[str, Any]
    modalities: set[str] = field(default_factory=set)
    body_parts: Counter[str] = field(default_factory=Counter)
    texts: list[str] = field(default_factory=list)
    target_regions: list[tuple[str, str]] = field(default_factory=list)
    n_instances: int = 0


@dataclass
class PartitionSummaries:
    """Every study and series of a partition seen so far, keyed by their instance UIDs."""

    studies: dict[str, StudySummary] = field(default_factory=dict)
    series: dict[str, SeriesSummary] = field(default_factory=dict)

    def add(self, record: dict[str, Any], device_key: str | None) -> None:
        """Count one instance's record into its study and series."""
        study = self.studies.get(record["study_instance_uid"])
        if study is None:
            study = self.studies[record["study_instance_uid"]] = StudySummary(first=study_fields(record))
        study.n_instances += 1
        if study.first["patient_weight_kg"] is None and record["patient_weight_kg"] is not None:
            # Not every object of a study carries the weight (a dose report may, its images not).
            study.first["patient_weight_kg"] = record["patient_weight_kg"]
        if record["modality"]:
            study.modalities.add(record["modality"])
        study.target_regions.extend(record["target_regions"])
        entry = self.series.get(record["series_instance_uid"])
        if entry is None:
            entry = self.series[record["series_instance_uid"]] = SeriesSummary(
                study_uid=record["study_instance_uid"], device_key=device_key, first=series_fields(record)
            )
            if record["body_part_examined"]:
                study.body_parts[record["body_part_examined"]] += 1
            for text in (record["protocol_name"], record["series_description"]):
                if text and text not in study.texts:
                    study.texts.append(text)
        entry.n_instances += 1

    def series_per_study(self) -> Counter[str]:
        return Counter(entry.study_uid for entry in self.series.values())
