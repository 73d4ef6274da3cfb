"""Export warehouse tables for a range of partitions to CSV or Parquet files, streaming in chunks.

The range selects partitions (source study dates). The lineage columns that name the partition and
the run are dropped by default: the partition key is the *unshifted* study date, while dates inside the
data are shifted per patient, so handing it to researchers would undo the date shift.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from resources.errors import DicomLakeError
from resources.warehouse.store import Warehouse

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "parquet"]
# Columns that can re-identify dates or tie rows to internal runs: internal use only.
INTERNAL_LINEAGE_COLUMNS = ("partition_key", "run_id", "processed_at")
CHUNK_ROWS = 50_000


class ExportError(DicomLakeError, ValueError):
    """The export request names unknown tables or an invalid range."""


@dataclass(frozen=True)
class ExportedTable:
    table: str
    path: Path
    rows: int


def export_tables(
    warehouse: Warehouse,
    tables: list[str],
    *,
    start: dt.date,
    end: dt.date,
    fmt: ExportFormat,
    out_dir: Path,
    with_lineage: bool = False,
) -> list[ExportedTable]:
    """Write each table's rows of partitions ``start``..``end`` (inclusive) to ``out_dir/<table>.<fmt>``.

    Raises
    ------
    ExportError
        If a table does not exist in the warehouse or the range is reversed.
    """
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    metadata = sa.MetaData()
    metadata.reflect(warehouse.engine)
    tables = [resolve_table_name(name, set(metadata.tables)) for name in tables]
    unknown = [name for name in tables if name not in metadata.tables or name.startswith("alembic")]
    if unknown:
        known = ", ".join(sorted(n for n in metadata.tables if not n.startswith("alembic")))
        raise ExportError(f"unknown table(s): {', '.join(unknown)} (available: {known})")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in tables:
        table = metadata.tables[name]
        columns = [c for c in table.columns if with_lineage or c.name not in INTERNAL_LINEAGE_COLUMNS]
        query = sa.select(*columns).where(
            # The day after the end, exclusive: a source's key (2026-11-30|east) sorts after its date.
            table.c.partition_key >= start.isoformat(),
            table.c.partition_key < (end + dt.timedelta(days=1)).isoformat(),
        )
        order = [c for c in table.primary_key.columns if c.name != "partition_key"]
        query = query.order_by(*(order or [table.c.partition_key]))
        path = out_dir / f"{name}.{fmt}"
        rows = _write(warehouse, query, [c.name for c in columns], path, fmt)
        logger.info("exported %s: %d rows to %s", name, rows, path)
        results.append(ExportedTable(name, path, rows))
    return results


def resolve_table_name(name: str, known: set[str]) -> str:
    """Accept the plural people type (``studies`` for ``study``, ``patients`` for ``patient``)."""
    name = name.strip().lower()
    if name in known:
        return name
    for plural, singular in (("ies", "y"), ("s", "")):
        if name.endswith(plural) and name[: -len(plural)] + singular in known:
            return name[: -len(plural)] + singular
    return name


def _write(warehouse: Warehouse, query: sa.Select, columns: list[str], path: Path, fmt: ExportFormat) -> int:
    tmp = path.with_name(f".{path.name}.part")
    rows = 0
    writer: pq.ParquetWriter | None = None
    with warehouse.engine.connect() as con:
        chunks = pd.read_sql(query, con, chunksize=CHUNK_ROWS)
        first = True
        for chunk in chunks:
            rows += len(chunk)
            if fmt == "csv":
                chunk.to_csv(tmp, mode="w" if first else "a", header=first, index=False)
            else:
                arrow = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, arrow.schema)
                writer.write_table(arrow.cast(writer.schema))
            first = False
        if first:  # no rows: still write a file with the header
            empty = pd.DataFrame(columns=columns)
            if fmt == "csv":
                empty.to_csv(tmp, index=False)
            else:
                pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp)
    if writer is not None:
        writer.close()
    tmp.replace(path)
    return rows
