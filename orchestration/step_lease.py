"""One execution per step task, however often the broker delivers it.

A step task is acknowledged when it ends (so a killed worker's step is delivered again). The other
side of that: when the connection to the broker drops while a step runs (a broker restart, a network
cut), the broker hands the unacknowledged task to another worker while the first one is still
running it, and both would write the same partition at once.

The lease is a PostgreSQL advisory lock on the task's id, taken in the result database (celery's
database backend) for as long as the task runs and released by the server when its holder's
connection ends: a worker that dies lets go at once; a worker that lives holds it until it has
stored its result. A delivered copy waits for the lease, then finds the stored result and returns it
without running the step again. Without a database result backend (``rpc://``) there is no lease.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


def lease_key(task_id: str) -> int:
    """The advisory lock's 64-bit key of a task id (PostgreSQL's bigint, signed)."""
    return int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big", signed=True)


def lease_database(backend: Any) -> str | None:
    """The SQLAlchemy URL of a celery result backend on PostgreSQL, or None (no lease possible)."""
    url = getattr(backend, "url", None)
    if not isinstance(url, str):
        return None
    url = url.removeprefix("db+")
    return url if url.startswith("postgresql") else None


@contextmanager
def step_lease(database_url: str | None, task_id: str) -> Iterator[None]:
    """Hold the task's lease while the body runs (waiting while another worker holds it)."""
    if database_url is None:
        yield
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    key = lease_key(task_id)
    # Autocommit: the lock belongs to the session, and no transaction stays open for hours.
    engine = sa.create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            taken = connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if not taken:
                logger.info("task %s is running on another worker: waiting for its result", task_id)
                connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()


def stored_success(backend: Any, task_id: str) -> tuple[bool, Any]:
    """(True, result) when the backend holds a successful result for the task, else (False, None)."""
    meta = backend.get_task_meta(task_id, cache=False)
    if meta.get("status") == "SUCCESS":
        return True, meta.get("result")
    return False, None
