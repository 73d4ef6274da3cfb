"""What the journal keeps in memory per segment, per appended record, and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(eq=False)
class Segment:
    """One journal file of this process: what was appended, what is durable, what is under way."""

    path: Path
    fd: int
    size: int = 0
    durable: int = 0
    records: int = 0
    durable_records: int = 0
    pending: int = 0  # records not settled yet: being answered, or waiting for the splitter
    files: list[Path] = field(default_factory=list)
    error: OSError | None = None  # a failed fdatasync: nothing more of this segment is acknowledged
    syncing: bool = False  # a group's fdatasync of it is under way


def quiet(segment: Segment) -> bool:
    """No receive is under way in ``segment`` and no fdatasync of it runs.

    Bytes past ``durable`` may remain: void marks only (every record is pending until settled), which
    the checkpoint that deletes the segment makes moot.
    """
    return segment.pending == 0 and not segment.syncing


@dataclass(frozen=True)
class JournalTicket:
    """Where one appended record ends (what :meth:`Journal.sync` must make durable for it)."""

    segment: Segment
    end: int
    records: int


@dataclass
class JournalStats:
    """Counters since start: records, fdatasyncs (records / fsyncs = mean group size), checkpoints."""

    records: int = 0
    fsyncs: int = 0
    largest_group: int = 0
    fsync_seconds: float = 0.0
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0
