"""The de-identification stage's arrival delays (``_arrival_delays.jsonl``) for the ``instance`` rows.

The file sits in each research partition folder, one line per research copy keyed by its research-zone
SOP Instance UID: seconds from acquisition to arrival, the arrival path and a flag (``negative``,
``implausible``, or why there is no delay). The rule is the de-identification stage's
(``resources.deid.arrival``); curation only joins it to the instance rows and turns the two flags that
mean a doubtful delay into quality flags. It holds numbers and codes only, never an arrival time.

A partition's delays are held in memory as (float, short code) pairs while its files are curated: the
instance rows are written as the files stream by and need their delay then.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.curation.quality import Flag

logger = logging.getLogger(__name__)

ARRIVAL_FILE = "_arrival_delays.jsonl"
# Flags that say the delay is there but doubtful: they become quality flags (instance level).
DOUBTFUL_FLAGS = {"negative": "arrival_delay_negative", "implausible": "arrival_delay_implausible"}


@dataclass(frozen=True)
class Arrival:
    delay_s: float | None
    path: str | None
    flag: str | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _code(value: Any, length: int) -> str | None:
    return str(value)[:length] if isinstance(value, str) and value else None


def read_arrivals(path: Path | None) -> dict[str, Arrival]:
    """``{research SOP Instance UID: Arrival}``; empty without the file (partitions curated before it).

    Lines that are not JSON objects with a SOP Instance UID are skipped with a warning naming the line.
    """
    arrivals: dict[str, Arrival] = {}
    if path is None or not path.exists():
        return arrivals
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d: not JSON, skipped", path.name, number)
                continue
            if not isinstance(item, dict) or not item.get("sop_instance_uid"):
                logger.warning("%s line %d: no sop_instance_uid, skipped", path.name, number)
                continue
            arrivals[str(item["sop_instance_uid"])[:64]] = Arrival(
                _number(item.get("arrival_delay_s")),
                _code(item.get("arrival_path"), 16),
                _code(item.get("flag"), 32),
            )
    return arrivals


def arrival_columns(arrival: Arrival | None) -> dict[str, Any]:
    """The ``instance`` row's arrival columns (both ``None`` for an instance without a sidecar line)."""
    if arrival is None:
        return {"arrival_delay_s": None, "arrival_path": None}
    return {"arrival_delay_s": arrival.delay_s, "arrival_path": arrival.path}


def arrival_flag(arrival: Arrival | None) -> Flag | None:
    """The quality flag of a doubtful delay (kept in the row all the same), ``None`` otherwise."""
    if arrival is None or arrival.flag is None or arrival.flag not in DOUBTFUL_FLAGS:
        return None
    value = None if arrival.delay_s is None else f"{arrival.delay_s:g}"
    return Flag(DOUBTFUL_FLAGS[arrival.flag], "arrival_delay_s", value)
