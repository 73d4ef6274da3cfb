"""A deployment of the scale tests: the demo PACS, a PostgreSQL Dagster instance on the scale template,
a PostgreSQL warehouse, two `dicom-lake worker` processes on RabbitMQ, and a single-process reference.

Each module gets private databases (created and dropped) and its own broker queues (a unique queue
prefix, deleted afterwards), so nothing is shared with other tests or deployments on the machine.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from resources.corpus import CorpusSpec, generate_corpus
from tests.peers import free_port
from tests.scale.cluster import (
    BROKER,
    Cluster,
    broker_reachable,
    dagster_home,
    private_databases,
    warehouse_url,
)

START = dt.date(2026, 11, 9)
DAYS = 4
SECRET = "scale-tests-secret-key-0123456789"
PACS_AE = "DEMO_PACS"
LAKE_AE = "DICOM_LAKE"


def write_site(path: Path, *, pacs_port: int, lake_port: int, warehouse: str, **retrieval: Any) -> Path:
    site = {
        "partitions_start_date": "2026-01-01",
        "folders": {"root": str(path.parent)},
        "pacs": {
            "host": "127.0.0.1",
            "port": pacs_port,
            "called_ae_title": PACS_AE,
            "calling_ae_title": LAKE_AE,
            "storage_scp_port": lake_port,
            "storage_scp_bind": "127.0.0.1",
        },
        "retrieval": {"policy": "metadata", **retrieval},
        "selection": {"modalities": ["CT", "MG", "SR"]},
        "warehouse": {"url": warehouse},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(site))
    return path


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    cluster: Cluster
    site_file: Path
    reference_site: Path
    warehouse: str
    reference_warehouse: str
    home: Path
    pacs_port: int
    lake_port: int
    partitions: list[str]


def require_peers() -> None:
    if not broker_reachable():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 (Debian package rabbitmq-server)")
    require_postgres()


def require_postgres() -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    from tests.scale.cluster import PG_HOST, PG_PORT, PG_USER

    try:
        psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
        ).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {PG_HOST}:{PG_PORT}: {str(exc).strip()[:200]}")


def delete_queues(prefix: str) -> None:
    """Remove this deployment's queues from the shared broker."""
    from kombu import Connection

    with Connection(BROKER, connect_timeout=5) as connection:
        channel = connection.default_channel
        for queue in ("pacs", "cpu", "dagster"):
            try:
                channel.queue_delete(f"{prefix}{queue}")
            except Exception:  # already gone: nothing to clean
                channel = connection.channel()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_peers()
    from resources.pacs.demo_pacs import DemoPacs

    root = tmp_path_factory.mktemp("scale")
    spec = CorpusSpec(
        seed=23,
        n_studies=8,
        start_date=START,
        days=DAYS,
        ct_images_per_series=2,
        header_only=True,
        opt_out_fraction=0.0,
    )
    generate_corpus(root / "pacs", spec)
    lake_port = free_port()
    pacs = DemoPacs(root / "pacs", PACS_AE, known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
    pacs_port = pacs.start()
    prefix = f"dicom-lake-test-{uuid.uuid4().hex[:8]}-"
    cluster: Cluster | None = None
    try:
        with private_databases("instance", "warehouse", "reference") as db:
            site_file = write_site(
                root / "site" / "dicom-lake.yaml",
                pacs_port=pacs_port,
                lake_port=lake_port,
                warehouse=warehouse_url(db["warehouse"]),
            )
            reference_site = write_site(
                root / "reference" / "dicom-lake.yaml",
                pacs_port=pacs_port,
                lake_port=lake_port,
                warehouse=warehouse_url(db["reference"]),
            )
            home_env = dagster_home(root / "dagster-home", db["instance"])
            env = {
                **os.environ,
                **home_env,
                "DICOM_LAKE_CONFIG": str(site_file),
                "DICOM_LAKE_SECRET_KEY": SECRET,
                "DICOM_LAKE_EXECUTOR": "celery",
                "DICOM_LAKE_CELERY_BROKER": BROKER,
                "DICOM_LAKE_CELERY_QUEUE_PREFIX": prefix,
            }
            env.pop("DICOM_LAKE_WAREHOUSE_URL", None)
            cluster = Cluster(env=env, logs=root / "logs")
            cluster.start_worker("w1")
            cluster.start_worker("w2")
            yield Deployment(
                root=root,
                env=env,
                cluster=cluster,
                site_file=site_file,
                reference_site=reference_site,
                warehouse=warehouse_url(db["warehouse"]),
                reference_warehouse=warehouse_url(db["reference"]),
                home=Path(home_env["DAGSTER_HOME"]),
                pacs_port=pacs_port,
                lake_port=lake_port,
                partitions=[(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)],
            )
            cluster.stop()
    finally:
        if cluster is not None:
            cluster.stop()
        pacs.stop()
        delete_queues(prefix)


@pytest.fixture()
def instance_env(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """This process pointed at the deployment's instance (to read its event log)."""
    for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, deployment.env[key])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    return deployment
