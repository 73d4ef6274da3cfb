"""Warehouse back ends for tests: a SQLite file, and a throw-away schema on the real PostgreSQL server.

PostgreSQL URL from ``DICOM_LAKE_TEST_POSTGRES_URL`` (default: local trust-auth server, database ``test``).
Each test gets its own schema, dropped afterwards; tests skip with the reason when no server answers
(CI turns that skip into a failure).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from resources.warehouse.store import Warehouse

POSTGRES_URL_ENV_VAR = "DICOM_LAKE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def postgres_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV_VAR, DEFAULT_POSTGRES_URL)


@contextlib.contextmanager
def postgres_schema(prefix: str = "t") -> Iterator[Warehouse]:
    """A warehouse in a throw-away schema on the test PostgreSQL server (skips when none answers)."""
    url = postgres_url()
    admin = sa.create_engine(url)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {url} ({type(exc.orig).__name__})")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as con:
        con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    warehouse = Warehouse(url, schema=schema)
    try:
        yield warehouse
    finally:
        warehouse.dispose()
        with admin.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def make_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse on the back end named by the test's ``backend`` parameter."""
    if request.param == "sqlite":
        warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
        yield warehouse
        warehouse.dispose()
        return
    with postgres_schema() as warehouse:
        yield warehouse
