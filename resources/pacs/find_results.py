"""What a Study Root C-FIND answers, as rows, tolerant of the usual PACS quirks.

Quirks handled here (PS3.4 C.3 makes most return keys optional, and real archives use that freedom):

- ModalitiesInStudy may be absent (dcmqrscp never returns it): the modalities of a study are then the
  union of its series' Modality values, which :func:`study_modalities` computes.
- StationName may differ between study and series level, or exist only at one: selection looks at
  every station name seen for the study (:class:`StudyIndex.station_names`).
- Image-level C-FIND may answer nothing for SR series: callers treat an empty answer as "unknown",
  never as "the series is empty".
- Numbers of related series/instances may be absent: they are optional and stored as None.
- A match without its own UID is skipped (nothing could be asked about it later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset


@dataclass(frozen=True)
class StudyRow:
    """One study as the PACS described it at STUDY level."""

    study_uid: str
    study_date: str | None = None
    study_time: str | None = None
    accession_number: str | None = None
    modalities: tuple[str, ...] = ()
    study_description: str | None = None
    station_name: str | None = None
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesRow:
    """One series as the PACS described it at SERIES level."""

    series_uid: str
    study_uid: str
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    station_name: str | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class InstanceRow:
    """One instance as the PACS described it at IMAGE level."""

    sop_instance_uid: str
    sop_class_uid: str | None
    series_uid: str
    study_uid: str
    instance_number: int | None = None


@dataclass
class StudyIndex:
    """A study with its series: what the index stage records and selection decides on."""

    study: StudyRow
    series: list[SeriesRow] = field(default_factory=list)

    @property
    def modalities(self) -> tuple[str, ...]:
        return study_modalities(self.study, self.series)

    @property
    def station_names(self) -> tuple[str, ...]:
        names = {self.study.station_name} | {s.station_name for s in self.series}
        return tuple(sorted(n for n in names if n))


def study_modalities(study: StudyRow, series: Sequence[SeriesRow]) -> tuple[str, ...]:
    """ModalitiesInStudy when the PACS gave it, else the union of the series modalities."""
    found = set(study.modalities) | {s.modality for s in series if s.modality}
    return tuple(sorted(found))


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _multi(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    items = value.split("\\") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


def study_row(ds: Dataset) -> StudyRow | None:
    """A STUDY-level match as a row; None without a Study Instance UID."""
    uid = _text(ds, "StudyInstanceUID")
    if not uid:
        return None
    return StudyRow(
        study_uid=uid,
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        accession_number=_text(ds, "AccessionNumber"),
        modalities=_multi(ds, "ModalitiesInStudy"),
        study_description=_text(ds, "StudyDescription"),
        station_name=_text(ds, "StationName"),
        n_series=_int(ds, "NumberOfStudyRelatedSeries"),
        n_instances=_int(ds, "NumberOfStudyRelatedInstances"),
    )


def series_row(ds: Dataset, study_uid: str) -> SeriesRow | None:
    """A SERIES-level match of ``study_uid`` as a row; None without a Series Instance UID."""
    uid = _text(ds, "SeriesInstanceUID")
    if not uid:
        return None
    return SeriesRow(
        series_uid=uid,
        study_uid=study_uid,
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        station_name=_text(ds, "StationName"),
        n_instances=_int(ds, "NumberOfSeriesRelatedInstances"),
    )


def instance_row(ds: Dataset, study_uid: str, series_uid: str) -> InstanceRow | None:
    """An IMAGE-level match of one series as a row; None without a SOP Instance UID."""
    uid = _text(ds, "SOPInstanceUID")
    if not uid:
        return None
    return InstanceRow(
        sop_instance_uid=uid,
        sop_class_uid=_text(ds, "SOPClassUID"),
        series_uid=series_uid,
        study_uid=study_uid,
        instance_number=_int(ds, "InstanceNumber"),
    )
