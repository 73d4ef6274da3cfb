"""The SQL warehouse of de-identified rows (sqlmodel; SQLite by default, PostgreSQL at scale)."""

from resources.warehouse.lineage import CODE_VERSION, Lineage, LineageColumns
from resources.warehouse.store import Warehouse, make_engine

__all__ = ["CODE_VERSION", "Lineage", "LineageColumns", "Warehouse", "make_engine"]
