"""Dose rows (:mod:`resources.dose.dose_rows`) to and from the warehouse's dose tables.

The dataclasses carry exactly their table's columns except the surrogate key and the lineage; here they
become the plain mappings :meth:`Warehouse.replace_partition` writes, and rows read back become
dataclasses again. Values are normalised on both sides the same way: pandas gives NaN / NaT for SQL
NULL, SQLite returns dates as text and pandas returns Timestamps.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import SQLModel

from resources.warehouse.store import Warehouse

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

RowT = TypeVar("RowT")

# Columns the warehouse fills itself: the surrogate key and the lineage (resources.warehouse.lineage).
_NOT_FROM_ROWS = ("id", "partition_key", "run_id", "code_version", "deid_profile_version", "processed_at")


def row_columns(model: type[SQLModel]) -> list[str]:
    """The columns of a dose table that a dose row carries, in table order."""
    return [name for name in model.model_fields if name not in _NOT_FROM_ROWS]


def _temporal_kind(annotation: Any) -> str | None:
    text = str(annotation)
    if "datetime.datetime" in text:
        return "datetime"
    if "datetime.date" in text:
        return "date"
    return None


def _temporal_kinds(model: type[SQLModel]) -> dict[str, str | None]:
    fields = model.model_fields
    return {name: _temporal_kind(fields[name].annotation) for name in row_columns(model)}


def _coerce(value: Any, kind: str | None) -> Any:
    """Dates read back from SQLite come as text and from pandas as Timestamps: make them dates again."""
    if kind is None or value is None or type(value) in (dt.date, dt.datetime):
        if kind == "date" and isinstance(value, dt.datetime):
            return value.date()
        return value
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    return value


def _clean(value: Any) -> Any:
    """pandas gives NaN / NaT for SQL NULL; rows here speak None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ == "NaTType":
        return None
    return value


def table_rows(model: type[SQLModel], rows: Iterable[DataclassInstance]) -> list[dict[str, object]]:
    """Dose rows as the mappings the warehouse writes into ``model``'s table (lineage added there).

    Raises
    ------
    AttributeError
        When a row lacks a column of the table (a row type out of step with its table).
    """
    kinds = _temporal_kinds(model)
    return [{name: _coerce(getattr(row, name), kind) for name, kind in kinds.items()} for row in rows]


def read_rows(
    warehouse: Warehouse,
    model: type[SQLModel],
    make_row: Callable[..., RowT],
    partition_key: str | None = None,
) -> list[RowT]:
    """The rows of a dose table (one partition, or all) as dose rows built by ``make_row``."""
    table = str(model.__tablename__)
    if partition_key is None:
        frame = warehouse.read_frame(f"SELECT * FROM {table}")
    else:
        frame = warehouse.read_frame(
            f"SELECT * FROM {table} WHERE partition_key = :pk", {"pk": partition_key}
        )
    kinds = _temporal_kinds(model)
    return [
        make_row(**{name: _coerce(_clean(record[name]), kind) for name, kind in kinds.items()})
        for record in frame.to_dict("records")
    ]
