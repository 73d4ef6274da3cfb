"""A small deployment on one machine: `dicom-lake worker` processes on RabbitMQ and a PostgreSQL
Dagster instance, with the runs' orchestrating processes started as `dagster job execute` would be
on any machine. Shared by tests/scale and benchmarks/scale.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "orchestration" / "instance" / "dagster-scale.yaml"
BROKER = os.environ.get("DICOM_LAKE_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
PG_HOST = os.environ.get("DICOM_LAKE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DICOM_LAKE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("DICOM_LAKE_TEST_PG_USER", "postgres")


def broker_reachable(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _admin() -> Any:
    import psycopg2

    connection = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
    )
    connection.autocommit = True
    return connection


@contextmanager
def private_databases(*purposes: str) -> Iterator[dict[str, str]]:
    """One new PostgreSQL database per purpose, dropped afterwards (the names are unique)."""
    admin = _admin()
    names = {p: f"dicom_lake_scale_{p}_{uuid.uuid4().hex[:8]}" for p in purposes}
    try:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def warehouse_url(database: str) -> str:
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def dagster_home(folder: Path, database: str, *, pg_port: int = PG_PORT) -> dict[str, str]:
    """A $DAGSTER_HOME holding the scale template; returns the environment that selects it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, folder / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(folder),
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(pg_port),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }


def bin_path(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """Workers sharing one environment (site file, secret, broker, instance, queue prefix)."""

    env: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, name: str, queues: str = "pacs,cpu,dagster", timeout_s: float = 60) -> Worker:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            # The node name is unique per test process: two test runs sharing the machine's broker would
            # otherwise both register w1@host and the second worker would be refused (RESOURCE_LOCKED).
            [
                bin_path("dicom-lake"),
                "worker",
                "--queues",
                queues,
                "--name",
                f"{name}-{os.getpid()}",
                "--loglevel",
                "INFO",
            ],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        handle.close()
        worker = Worker(name=name, process=process, log=log)
        self.workers.append(worker)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if " ready." in worker.text():
                return worker
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited {process.returncode}: {worker.text()[-2000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker {name} not ready after {timeout_s} s: {worker.text()[-2000:]}")

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)


def launch_run(env: Mapping[str, str], partition: str, log: Path, job: str = "retrospective_pull_job") -> Any:
    """A run's orchestrating process for one partition (its steps go to the workers)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    command = [
        bin_path("dagster"),
        "job",
        "execute",
        "-m",
        "orchestration.definitions",
        "-a",
        "defs",
        "-j",
        job,
        "--tags",
        json.dumps({"dagster/partition": partition}),
    ]
    process = subprocess.Popen(command, env=dict(env), stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    handle.close()
    return process


def run_partitions(
    env: Mapping[str, str], partitions: Iterable[str], logs: Path, timeout_s: float = 300
) -> dict[str, int]:
    """Start one orchestrating process per partition, all at once; their exit codes by partition."""
    processes = {p: launch_run(env, p, logs / f"run-{p}.log") for p in partitions}
    codes: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    for partition, process in processes.items():
        try:
            codes[partition] = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            codes[partition] = -9
    return codes
