"""A one-source warehouse joins a multi-source site: its date-only partition keys get a source name.

When a site file that had one PACS lists a second source, partitions become date x source and the
existing rows' keys (``2026-11-09``) must become the first source's (``2026-11-09|west``); otherwise a
rerun of ``2026-11-09|west`` would add the same studies beside the old rows. One transaction renames
the keys of every table with a ``partition_key``; the whole-warehouse rows (``all``) stay. Running it
again finds nothing left to rename.
"""

from __future__ import annotations

import sqlalchemy as sa

from resources.partition_keys import DIMENSION_SEPARATOR, SOURCE_NAME, PartitionKeyError
from resources.warehouse.store import Warehouse

# A date-only key: exactly YYYY-MM-DD (LIKE's _ is one character; the length rules out longer keys).
_DATE_ONLY = "LENGTH(partition_key) = 10 AND partition_key LIKE '____-__-__'"


def tables_with_partition_keys(warehouse: Warehouse) -> list[str]:
    inspector = sa.inspect(warehouse.engine)
    return sorted(
        table
        for table in inspector.get_table_names()
        if not table.startswith("alembic")
        and any(column["name"] == "partition_key" for column in inspector.get_columns(table))
    )


def adopt_date_keys(warehouse: Warehouse, source: str, *, dry_run: bool = False) -> dict[str, int]:
    """Rows renamed per table (``dry_run``: rows that would be).

    Raises
    ------
    PartitionKeyError
        If ``source`` is not a valid source name.
    """
    if not SOURCE_NAME.match(source):
        raise PartitionKeyError(f"source {source!r}: not a source name (lower-case letters, digits, - and _)")
    counts: dict[str, int] = {}
    with warehouse.engine.begin() as connection:
        for table in tables_with_partition_keys(warehouse):
            quoted = connection.dialect.identifier_preparer.quote(table)
            if dry_run:
                statement = f"SELECT COUNT(*) FROM {quoted} WHERE {_DATE_ONLY}"
                counts[table] = int(connection.execute(sa.text(statement)).scalar_one())
                continue
            result = connection.execute(
                sa.text(f"UPDATE {quoted} SET partition_key = partition_key || :suffix WHERE {_DATE_ONLY}"),
                {"suffix": f"{DIMENSION_SEPARATOR}{source}"},
            )
            counts[table] = int(result.rowcount or 0)
    return counts
