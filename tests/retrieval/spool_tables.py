"""A read-only look at the spool index file, to check what the index and retrieval stages recorded."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from resources.spool import SpoolStore


@contextlib.contextmanager
def spool_tables(spool: SpoolStore) -> Iterator[sqlite3.Connection]:
    """A read-only connection to ``spool``'s index (the code itself goes through the store's methods)."""
    con = sqlite3.connect(f"file:{spool.index_path}?mode=ro", uri=True)
    try:
        yield con
    finally:
        con.close()
