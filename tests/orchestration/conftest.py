"""Fixtures of the orchestration tests: a fresh database on the test PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.orchestration.sites import PG_HOST, PG_PORT, PG_USER


@pytest.fixture()
def postgres_database() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"dicom_lake_ops_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {PG_HOST}:{PG_PORT}: {str(exc).strip()[:200]}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
