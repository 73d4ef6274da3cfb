"""Local diagnostic reference levels from the site's own data, as ICRP Publication 135 defines them.

Per DRL category and period: the median of each room's studies (a room = a curated canonical device),
then the third quartile of those room medians (ICRP 135: DRL values are set at the third quartile of
the distribution of the medians of the facilities -- here rooms -- that contribute). A room enters only
with at least ``min_studies_per_room`` studies of the category in the period (ICRP 135 asks for a
sample of at least about 20 patients per room and examination; configurable, and the rooms left out
are counted). With a single eligible room the value is that room's median: a typical value, not yet a
DRL, and the row says so through ``n_rooms``.

The result can be adopted as the site's DRL set: :func:`local_drl_csv` writes the latest period in the
DRL-set CSV format that ``dose.local_drl_csv`` loads.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resources.dose.audit_inputs import ReportStudy, is_source_date
from resources.dose.drl import DrlSet, period_of

DEFAULT_MIN_STUDIES_PER_ROOM = 20
QUANTITIES = ("ctdivol_mgy", "dlp_mgycm")


@dataclass(frozen=True, slots=True)
class LocalDrlRow:
    """One local DRL (``local_drl_level``): category, period and quantity."""

    category: str
    period: str
    quantity: str
    value: float | None
    n_rooms: int
    n_rooms_below_minimum: int
    n_studies: int
    min_studies_per_room: int
    room_medians: str = ""


def third_quartile(values: Sequence[float]) -> float:
    """Q3 of the room medians (inclusive method: the rooms are the whole population of the site)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=4, method="inclusive")[2]


def _value(study: ReportStudy, quantity: str) -> float | None:
    return study.ctdivol_mgy if quantity == "ctdivol_mgy" else study.dlp_mgycm


def local_drls(
    studies: Iterable[ReportStudy],
    period: str = "year",
    min_studies_per_room: int = DEFAULT_MIN_STUDIES_PER_ROOM,
) -> list[LocalDrlRow]:
    """Third quartile of per-room medians per category, source period and quantity."""
    samples: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for study in studies:
        if not study.drl_category or not is_source_date(study.source_date):
            continue
        when = period_of(study.source_date, period)
        for quantity in QUANTITIES:
            value = _value(study, quantity)
            if value is not None:
                samples[(study.drl_category, when, quantity)][study.device].append(value)
    rows: list[LocalDrlRow] = []
    for (category, when, quantity), rooms in sorted(samples.items()):
        medians = {
            room: statistics.median(values)
            for room, values in sorted(rooms.items())
            if len(values) >= min_studies_per_room
        }
        rows.append(
            LocalDrlRow(
                category=category,
                period=when,
                quantity=quantity,
                value=third_quartile(list(medians.values())) if medians else None,
                n_rooms=len(medians),
                n_rooms_below_minimum=len(rooms) - len(medians),
                n_studies=sum(len(v) for v in rooms.values()),
                min_studies_per_room=min_studies_per_room,
                room_medians="; ".join(f"{room}={m:.4g}" for room, m in medians.items())[:512],
            )
        )
    return rows


def local_drl_csv(rows: Sequence[LocalDrlRow], reference: DrlSet, source: str) -> str:
    """The latest period's local DRLs as a DRL-set CSV (adopt it with ``dose.local_drl_csv``).

    Examination names are taken from ``reference`` (the national set the categories come from); a
    category without any eligible room is left out rather than written without a value.
    """
    if not rows:
        return ""
    latest = max(r.period for r in rows)
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        if row.period == latest and row.value is not None:
            values[row.category][row.quantity] = row.value
    out = io.StringIO()
    out.write(f"# drl_set: local_icrp135\n# source: {source}\n# edition: {latest}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["drl_set", "edition", "source", "category", "examination", "ctdivol_mgy", "dlp_mgycm"])
    for category in sorted(values):
        level = reference.levels.get(category)
        writer.writerow(
            [
                "local_icrp135",
                latest,
                "ICRP 135 Q3 of room medians",
                category,
                level.examination if level else category,
                _round(values[category].get("ctdivol_mgy")),
                _round(values[category].get("dlp_mgycm")),
            ]
        )
    return out.getvalue()


def _round(value: float | None) -> str:
    """Three significant figures: more would claim a precision a sample of room medians does not have."""
    return "" if value is None else f"{float(f'{value:.3g}'):g}"
