"""CT irradiation events estimated from image headers, for studies with images but no dose SR.

Per acquisition (image series grouped by Irradiation Event UID where present, else one per series):
CTDIvol = mean of the CTDIvol (0018,9345) of the retrieved instances; scan length = distance between the
first and last slice positions + one slice thickness; DLP = CTDIvol x length (cm). Under the
``metadata`` retrieval policy only the first and last instance of a CT series are retrieved, which is all
this needs. With a single instance the length is unknown: the event keeps its CTDIvol, has no DLP and is
flagged ``length_unknown_single_instance``. Every such event is flagged ``estimated``.

Several reconstructions of one acquisition share an Irradiation Event UID: they become one event (the
longest covered length is kept), so the DLP is not counted twice. Without that UID, reconstructions
cannot be told from acquisitions and each series is an event: flagged ``no_event_uid_may_double_count``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from resources.dose.codes import Phantom
from resources.dose.linking import SeriesSummary


@dataclass(frozen=True, slots=True)
class EstimatedEvent:
    study_instance_uid: str
    series_instance_uids: tuple[str, ...]
    irradiation_event_uid: str | None
    acquisition_protocol: str | None
    ctdivol_mgy: float | None
    scanning_length_mm: float | None
    dlp_mgycm: float | None
    phantom: Phantom | None
    kvp: float | None
    tube_current_ma: float | None
    is_localizer: bool
    flags: tuple[str, ...]


def _length_mm(summary: SeriesSummary) -> float | None:
    positions = [h.z_position_mm for h in summary.headers if h.z_position_mm is not None]
    if len(positions) < 2:
        return None
    thickness = next((h.slice_thickness_mm for h in summary.headers if h.slice_thickness_mm), 0.0) or 0.0
    return abs(max(positions) - min(positions)) + thickness


def estimate_events(series: Sequence[SeriesSummary]) -> list[EstimatedEvent]:
    """Estimated events for one study's CT image series.

    Parameters
    ----------
    series
        The study's series; non-CT series are ignored.

    Returns
    -------
    list of EstimatedEvent
    """
    groups: dict[str, list[SeriesSummary]] = {}
    for summary in series:
        if summary.modality != "CT":
            continue
        uids = sorted(summary.irradiation_event_uids)
        key = f"uid:{uids[0]}" if uids else f"series:{summary.series_instance_uid}"
        groups.setdefault(key, []).append(summary)
    events: list[EstimatedEvent] = []
    for key, members in groups.items():
        headers = [h for s in members for h in s.headers]
        ctdis = [h.ctdivol_mgy for h in headers if h.ctdivol_mgy is not None]
        ctdivol = statistics.fmean(ctdis) if ctdis else None
        lengths = [length for length in (_length_mm(s) for s in members) if length is not None]
        length = max(lengths) if lengths else None
        flags = ["estimated"]
        if not ctdis:
            flags.append("no_ctdivol_in_headers")
        if length is None:
            flags.append("length_unknown_single_instance")
        if not key.startswith("uid:"):
            flags.append("no_event_uid_may_double_count")
        localizer = all(h.is_localizer for h in headers)
        if localizer:
            flags.append("localizer")
        dlp = ctdivol * length / 10.0 if ctdivol is not None and length is not None else None
        first = members[0].first
        events.append(
            EstimatedEvent(
                study_instance_uid=first.study_instance_uid,
                series_instance_uids=tuple(s.series_instance_uid for s in members),
                irradiation_event_uid=key[4:] if key.startswith("uid:") else None,
                acquisition_protocol=first.protocol_name,
                ctdivol_mgy=ctdivol,
                scanning_length_mm=length,
                dlp_mgycm=dlp,
                phantom=next((h.phantom for h in headers if h.phantom is not None), None),
                kvp=first.kvp,
                tube_current_ma=first.tube_current_ma,
                is_localizer=localizer,
                flags=tuple(flags),
            )
        )
    return events
