"""Partition keys: a study date, and with several sources the source too.

With one source (one PACS and its listener) a partition is a study date, ``2026-11-09``. A site file
that lists several sources makes partitions date x source, and the key is Dagster's multi-partition
key for the dimensions ``date`` and ``source``: the dimension keys joined by ``|`` in the order of the
dimension names, ``2026-11-09|east``. Every engine stores and matches the key as it is (spool index,
research store, quarantine, warehouse ``partition_key``), so one source's rerun replaces that source's
rows only; what needs the calendar day takes it from the key's first ten characters, which every key
starts with (so ISO-date text comparisons and ``substr(partition_key, 1, 10)`` keep working).

A key becomes a folder name with ``@`` in place of ``|`` (``2026-11-09@east``): ``|`` is not allowed
in file names on the SMB shares hospitals often use as shared storage.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from resources.errors import ConfigurationError

DIMENSION_SEPARATOR = "|"  # Dagster's MultiPartitionKey separator
FOLDER_SEPARATOR = "@"
DATE_DIMENSION = "date"
SOURCE_DIMENSION = "source"
# Dagster orders a key's parts by dimension name: "date" sorts before "source", so keys start with the date.

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # fromisoformat alone also takes 20261109


class PartitionKeyError(ConfigurationError):
    """A partition key is neither ``YYYY-MM-DD`` nor ``YYYY-MM-DD|<source>``."""


@dataclass(frozen=True)
class PartitionRef:
    """A partition key taken apart: the study date and, with several sources, the source's name."""

    day: dt.date
    source: str | None = None

    @property
    def key(self) -> str:
        return key_for(self.day, self.source)


def key_for(day: dt.date | str, source: str | None) -> str:
    """The partition key of a study date (ISO text or date) for a source (None: the only source)."""
    text = day if isinstance(day, str) else day.isoformat()
    return text if source is None else f"{text}{DIMENSION_SEPARATOR}{source}"


def parse(partition_key: str) -> PartitionRef:
    """``2026-11-09`` or ``2026-11-09|east`` as a :class:`PartitionRef`.

    Raises
    ------
    PartitionKeyError
        If the date is not an ISO calendar date or the source is not a valid source name.
    """
    text = str(partition_key)
    day_text, separator, source = text.partition(DIMENSION_SEPARATOR)
    try:
        if not _ISO_DAY.match(day_text):
            raise ValueError(day_text)
        day = dt.date.fromisoformat(day_text)
    except ValueError:
        raise PartitionKeyError(f"partition {text!r}: {day_text!r} is not a YYYY-MM-DD date") from None
    if not separator:
        return PartitionRef(day)
    if not SOURCE_NAME.match(source):
        raise PartitionKeyError(
            f"partition {text!r}: {source!r} is not a source name (lower-case letters, digits, - and _)"
        )
    return PartitionRef(day, source)


def day_of(partition_key: str) -> str:
    """The key's study date as ISO text (its first ten characters)."""
    return str(partition_key)[:10]


def source_of(partition_key: str) -> str | None:
    """The key's source, or None for a date-only key."""
    return parse(partition_key).source


def qualify(date_key: str, source: str | None) -> str:
    """A date-only key (what a header's study date gives) as the key of ``source``'s partition."""
    return date_key if source is None else f"{date_key}{DIMENSION_SEPARATOR}{source}"


def folder_name(partition_key: str) -> str:
    """The key as a folder name: ``|`` becomes ``@``."""
    return str(partition_key).replace(DIMENSION_SEPARATOR, FOLDER_SEPARATOR)
