"""Link each CT irradiation event to the image series it produced, and record how.

1. ``irradiation_event_uid``: an image carries the event's Irradiation Event UID (0008,3010).
   De-identification remaps this UID and the SR's UID (DCM 113769) with the same keyed function, so the
   link survives in the research zone.
2. ``time_window_protocol``: same study, the series' acquisition time within the window around the
   event's start, and the normalised protocol names equal.
3. ``time_window``: same study and time window only (nearest event wins).
4. ``protocol``: the event has no start time (many RDSRs omit DateTime Started), and exactly one event
   of the study has the series' normalised protocol name.
Series that match nothing stay unlinked (reported, not guessed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resources.dose.image_headers import ImageHeader
from resources.dose.rdsr.ct_irradiation_event_data import CTIrradiationEventData

DEFAULT_WINDOW_S = 120.0
LINK_BY_UID = "irradiation_event_uid"
LINK_BY_TIME_AND_PROTOCOL = "time_window_protocol"
LINK_BY_TIME = "time_window"
LINK_BY_PROTOCOL = "protocol"


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One image series of a study as linking and estimation need it (from its retrieved instances)."""

    study_instance_uid: str
    series_instance_uid: str
    modality: str
    headers: tuple[ImageHeader, ...]

    @property
    def first(self) -> ImageHeader:
        return self.headers[0]

    @property
    def irradiation_event_uids(self) -> frozenset[str]:
        return frozenset(uid for h in self.headers for uid in h.irradiation_event_uids)


@dataclass(frozen=True, slots=True)
class EventLink:
    irradiation_event_uid: str
    series_instance_uid: str
    method: str
    time_difference_s: float | None


def summarise_series(headers: Iterable[ImageHeader]) -> list[SeriesSummary]:
    """Group image headers into series (instances sorted by z position then SOP UID)."""
    grouped: dict[tuple[str, str], list[ImageHeader]] = {}
    for header in headers:
        grouped.setdefault((header.study_instance_uid, header.series_instance_uid), []).append(header)
    return [
        SeriesSummary(
            study,
            series,
            members[0].modality,
            tuple(
                sorted(
                    members,
                    key=lambda h: (h.z_position_mm is None, h.z_position_mm or 0.0, h.sop_instance_uid),
                )
            ),
        )
        for (study, series), members in grouped.items()
    ]


def normalise_protocol(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()


def link_events(
    events: Sequence[CTIrradiationEventData],
    series: Sequence[SeriesSummary],
    window_s: float = DEFAULT_WINDOW_S,
) -> list[EventLink]:
    """Links between one study's events and its image series.

    Parameters
    ----------
    events
        The study's unique events.
    series
        The study's image series (any modality; only series with images are considered).
    window_s
        Largest allowed difference between event start and series acquisition time.

    Returns
    -------
    list of EventLink
        At most one event per series; an event may produce several series (reconstructions).
    """
    by_uid = {e.irradiation_event_uid: e for e in events if e.irradiation_event_uid}
    links: list[EventLink] = []
    for summary in series:
        matched = sorted(uid for uid in summary.irradiation_event_uids if uid in by_uid)
        if matched:
            links.extend(EventLink(uid, summary.series_instance_uid, LINK_BY_UID, 0.0) for uid in matched)
            continue
        when = min((h.acquisition_datetime for h in summary.headers if h.acquisition_datetime), default=None)
        protocol = normalise_protocol(summary.first.protocol_name)
        if when is None or all(e.start_datetime is None for e in events):
            same = [
                e.irradiation_event_uid
                for e in events
                if e.irradiation_event_uid
                and protocol
                and normalise_protocol(e.acquisition_protocol) == protocol
            ]
            if len(same) == 1:
                links.append(EventLink(same[0], summary.series_instance_uid, LINK_BY_PROTOCOL, None))
            continue
        candidates = []
        for event in events:
            if event.start_datetime is None or event.irradiation_event_uid is None:
                continue
            delta = abs((when - event.start_datetime).total_seconds())
            if delta <= window_s:
                same_protocol = bool(protocol) and protocol == normalise_protocol(event.acquisition_protocol)
                candidates.append((not same_protocol, delta, event.irradiation_event_uid, same_protocol))
        if candidates:
            _, delta, uid, same_protocol = min(candidates)
            method = LINK_BY_TIME_AND_PROTOCOL if same_protocol else LINK_BY_TIME
            links.append(EventLink(uid, summary.series_instance_uid, method, delta))
    return links
