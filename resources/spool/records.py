"""What the spool index holds for one received instance: the record, its states, its timestamps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

STATES = ("received", "released", "quarantined", "purged")
"""Life of a spooled instance: received, then released (de-identified) or quarantined, then purged."""


def utc_now() -> str:
    """Now in UTC as the spool index writes it (ISO 8601, microseconds; sorts as text)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SpoolRecord:
    """One row of ``spool_instance``: a received file, where it came from and what became of it."""

    sop_instance_uid: str
    partition_key: str
    study_uid: str
    series_uid: str
    sop_class_uid: str
    path: Path
    sha256: str
    size_bytes: int
    source: str
    received_at: str
    state: str = "received"
    calling_ae_title: str | None = None
    state_reason: str | None = None
    # Re-sends: how many times the same SOP Instance UID arrived again, and when it last did.
    resend_count: int = 0
    last_resent_at: str | None = None
