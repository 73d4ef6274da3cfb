"""Partition folders of a one-source store renamed to one source's (``<date>`` to ``<date>@<source>``).

Used by the spool, research store and quarantine when a site with one PACS lists a second source
(``dicom-lake partitions adopt``); see resources/warehouse/source_adoption.py for the warehouse.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from resources.partition_keys import DIMENSION_SEPARATOR, PartitionKeyError, folder_name

_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def date_folders(root: Path) -> list[Path]:
    """Folders of date-only partitions directly under ``root``."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and _DATE_FOLDER.match(path.name))


def rename_date_folders(root: Path, source: str, *, dry_run: bool = False) -> int:
    """``<root>/<date>`` to ``<root>/<date>@<source>``; the count renamed (or that would be).

    Each rename is atomic; interrupted, running it again renames the rest.

    Raises
    ------
    PartitionKeyError
        If the source's folder for a date exists already (the two would have to be merged by hand).
    """
    folders = date_folders(root)
    for folder in folders:
        target = root / folder_name(f"{folder.name}{DIMENSION_SEPARATOR}{source}")
        if target.exists():
            raise PartitionKeyError(f"{target}: exists already; {folder} cannot be renamed onto it")
        if not dry_run:
            os.replace(folder, target)
    return len(folders)
