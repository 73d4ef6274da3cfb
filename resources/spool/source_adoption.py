"""The spool's date-only partitions become one source's (see resources/warehouse/source_adoption.py).

Folders are renamed first (``<date>`` to ``<date>@<source>``, each an atomic rename), then the index
rows and their file paths in one transaction. Interrupted between the two, running it again finishes
the job: renamed folders are skipped, and rows still holding a date-only key are updated.
"""

from __future__ import annotations

import os
from pathlib import Path

from resources.partition_folders import rename_date_folders
from resources.partition_keys import DIMENSION_SEPARATOR, folder_name
from resources.spool.index_schema import SpoolIndexDatabase

_DATE_ONLY = "partition_key GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
_KEYED_TABLES = ("indexed_study", "indexed_series", "retrieval_failure")


def adopt_date_keys(
    index: SpoolIndexDatabase, root: Path, source: str, *, dry_run: bool = False
) -> dict[str, int]:
    """Rename the spool's date-only partitions to ``source``'s; counts per table and of folders."""
    counts = {"folders": rename_date_folders(root, source, dry_run=dry_run)}
    suffix = f"{DIMENSION_SEPARATOR}{source}"
    with index.transaction() as con:
        for table in _KEYED_TABLES:
            if dry_run:
                counts[table] = con.execute(f"SELECT COUNT(*) FROM {table} WHERE {_DATE_ONLY}").fetchone()[0]
            else:
                counts[table] = con.execute(
                    f"UPDATE {table} SET partition_key = partition_key || ? WHERE {_DATE_ONLY}", (suffix,)
                ).rowcount
        rows = con.execute(
            f"SELECT sop_instance_uid, partition_key, path FROM spool_instance WHERE {_DATE_ONLY}"
        )
        renamed = []
        for uid, key, path in rows.fetchall():
            old = f"{os.sep}{key}{os.sep}"
            new = f"{os.sep}{folder_name(key + suffix)}{os.sep}"
            renamed.append((key + suffix, str(path).replace(old, new, 1), uid))
        counts["spool_instance"] = len(renamed)
        if not dry_run:
            con.executemany(
                "UPDATE spool_instance SET partition_key = ?, path = ? WHERE sop_instance_uid = ?", renamed
            )
    return counts
