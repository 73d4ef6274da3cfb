"""The step executor: in-process/multiprocess on one machine, dagster-celery across machines.

``DICOM_LAKE_EXECUTOR=celery`` (in the code location's environment) gives every job the celery
executor; steps are queued on the broker (``DICOM_LAKE_CELERY_BROKER``, RabbitMQ by default, Redis as
the alternative) and run by ``dicom-lake worker`` processes on any machine. The queue of a step is its
op tag ``dagster-celery/queue`` (``pacs`` for the PACS-facing steps, ``cpu`` for the rest), so PACS
traffic and CPU-bound work can be given to different workers.

A worker killed mid-step must not lose the step: tasks are acknowledged only when they end
(``task_acks_late``) and a task whose worker died is given back to the broker
(``task_reject_on_worker_lost``), which hands it to another worker; the run's orchestrating process
keeps waiting for the same task, and the pool slot it claimed stays claimed meanwhile. Every asset
replaces its partition, so the second execution leaves nothing doubled.

A broker restart loses nothing either: queues are durable and messages persistent (published with
confirms and retried until the broker is back), each side reconnects, and step results are kept off
the broker, in the instance database (celery's database backend) when the scale template's
``DAGSTER_PG_*`` settings are present. A step whose acknowledgement the restart cut off is delivered
again; the worker's step lease (:mod:`orchestration.step_lease`) makes the copy wait for the first
execution and return its result instead of running the step twice.

When a run starts, the orchestrating process records the identity of the data zones it sees (see
:mod:`resources.store_identity`) as a run tag; a worker compares its own before it runs a step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any
from urllib.parse import quote

import dagster as dg

from assets.queues import CPU_QUEUE, PACS_QUEUE
from resources.errors import ConfigurationError
from resources.site_config import load_site_config
from resources.store_identity import ensure_store_identity

EXECUTOR_ENV_VAR = "DICOM_LAKE_EXECUTOR"
BROKER_ENV_VAR = "DICOM_LAKE_CELERY_BROKER"
BACKEND_ENV_VAR = "DICOM_LAKE_CELERY_BACKEND"
QUEUE_PREFIX_ENV_VAR = "DICOM_LAKE_CELERY_QUEUE_PREFIX"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
# Steps without a queue tag (asset checks) go to dagster-celery's default queue. Redis as the broker
# (redis://127.0.0.1:6379/0) needs kombu's transport, the `redis` package, installed beside.
DEFAULT_QUEUE = "dagster"
QUEUES = (PACS_QUEUE, CPU_QUEUE, DEFAULT_QUEUE)
STORE_IDENTITY_TAG = "dicom-lake/store-identity"
# The pool of the PACS-facing assets (assets/retrieval.py).
PACS_POOL = "pacs"


# How long a publisher waits for the broker: a restart takes seconds, a host reboot a minute or two.
BROKER_OUTAGE_S = 180
_OUTAGE_RETRIES = {
    "max_retries": BROKER_OUTAGE_S // 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}


class ExecutorSettingError(ConfigurationError):
    """``$DICOM_LAKE_EXECUTOR`` names no executor."""


def broker_url() -> str:
    return os.environ.get(BROKER_ENV_VAR) or DEFAULT_BROKER


def instance_database_backend(env: Mapping[str, str] = os.environ) -> str | None:
    """Celery's database result backend on the Dagster instance's PostgreSQL database, from the
    ``DAGSTER_PG_*`` settings the scale template reads; None without them (one machine)."""
    host, user, database = (env.get(f"DAGSTER_PG_{k}") for k in ("HOST", "USER", "DB"))
    if not (host and user and database):
        return None
    password = env.get("DAGSTER_PG_PASSWORD") or ""
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    port = env.get("DAGSTER_PG_PORT") or "5432"
    return f"db+postgresql+psycopg2://{credentials}@{host}:{port}/{quote(database, safe='')}"


def backend_url() -> str:
    """Where step results are kept: ``$DICOM_LAKE_CELERY_BACKEND``, else the instance database, else
    ``rpc://`` (results as broker messages: lost if the broker restarts while a step ends)."""
    return os.environ.get(BACKEND_ENV_VAR) or instance_database_backend() or DEFAULT_BACKEND


def queue_name(queue: str) -> str:
    """The broker's name of a queue: ``$DICOM_LAKE_CELERY_QUEUE_PREFIX`` lets two deployments (staging
    and production) share one broker without taking each other's steps."""
    return f"{os.environ.get(QUEUE_PREFIX_ENV_VAR, '')}{queue}"


RESULT_EXPIRES_S = 24 * 3600


def celery_settings() -> dict[str, Any]:
    """Celery settings shared by the executor and the workers (they must agree)."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One task per worker at a time: a waiting step is never held by a busy worker.
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # A worker reconnects however long the broker is away (a restart, an upgrade).
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # A step submitted while the broker restarts is sent again until it is back, for about as
        # long as BROKER_OUTAGE_S; after that the run fails and run retries take it over.
        "task_publish_retry": True,
        "task_publish_retry_policy": _OUTAGE_RETRIES,
        # A step keeps running when the connection drops (a solo worker could not stop it anyway);
        # the copy the broker delivers again waits for it on the step lease and returns its result.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # A RabbitMQ consumer must acknowledge within consumer_timeout (30 min by default); a long
        # partition is acknowledged late on purpose, so the broker must allow it (see README).
        # Publisher confirms: a step sent just as the broker stops is not taken as sent.
        "broker_transport_options": {"confirm_publish": True, **_OUTAGE_RETRIES},
        # With the instance database as the result backend, its tables say whose they are.
        "database_table_names": {"task": "dicom_lake_celery_task", "group": "dicom_lake_celery_group"},
        # A step's result is read once by its run, and again only by a copy the broker delivers
        # twice (within consumer_timeout): kept a day, then the workers delete it
        # (orchestration.celery_app.purge_expired_results); the database backend keeps rows forever
        # unless something deletes them.
        "result_expires": RESULT_EXPIRES_S,
    }


@cache
def project_celery_app(broker: str, backend: str, prefix: str) -> Any:
    """The celery app of the project's queues, for one broker (the executor's side and the worker's)."""
    from dagster_celery.make_app import make_app_with_task_routes
    from kombu import Queue

    default = f"{prefix}{DEFAULT_QUEUE}"
    routes = {
        name: {"queue": default, "routing_key": f"{default}.{name}"}
        for name in ("execute_plan", "execute_job", "resume_job")
    }
    app = make_app_with_task_routes(
        task_routes=routes,
        app_args={"broker": broker, "backend": backend, "include": [], "config_source": celery_settings()},
    )
    # Both sides declare the same queues with the same arguments (RabbitMQ refuses a redeclaration
    # with other arguments); priorities as dagster-celery's own queue has them.
    app.conf.task_default_queue = default
    app.conf.task_queues = [
        Queue(prefix + q, routing_key=f"{prefix}{q}.#", queue_arguments={"x-max-priority": 10})
        for q in QUEUES
    ]
    return app


def current_celery_app() -> Any:
    return project_celery_app(broker_url(), backend_url(), os.environ.get(QUEUE_PREFIX_ENV_VAR, ""))


def _submit_step(app: Any, plan_context: Any, step: Any, queue: str, priority: int, known_state: Any) -> Any:
    from dagster_celery.executor import _submit_task

    # The loop hands us dagster-celery's app, which knows only its own queue; send on ours.
    executor = plan_context.executor
    app = project_celery_app(executor.broker, executor.backend, os.environ.get(QUEUE_PREFIX_ENV_VAR, ""))
    return _submit_task(app, plan_context, step, queue_name(queue), priority, known_state)


def _celery_executor_class() -> type:
    from dagster_celery.core_execution_loop import core_celery_execution_loop
    from dagster_celery.executor import CeleryExecutor

    class ProjectCeleryExecutor(CeleryExecutor):
        def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[dg.DagsterEvent]:
            run = plan_context.dagster_run
            identity = ensure_store_identity(load_site_config().paths)
            plan_context.instance.add_run_tags(run.run_id, {STORE_IDENTITY_TAG: identity.as_tag()})
            plan_context.log.info(f"data zones of this run: {identity.as_tag()}")
            yield from core_celery_execution_loop(
                plan_context, execution_plan, step_execution_fn=_submit_step
            )

    return ProjectCeleryExecutor


def project_celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor on the project's queues, broker and settings."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CELERY_CONFIG

    executor_class = _celery_executor_class()
    # dagster-celery defaults the backend to rpc://; ours comes from the environment (backend_url),
    # the same choice the workers make, unless the run config names one.
    config_schema = {
        **CELERY_CONFIG,
        "backend": dg.Field(
            dg.Noneable(dg.StringSource),
            is_required=False,
            description=f"The celery results backend (default: ${BACKEND_ENV_VAR}, else the instance DB).",
        ),
    }

    @dg.executor(
        name="dicom_lake_celery",
        config_schema=config_schema,
        requirements=dg.multiple_process_executor_requirements(),
    )
    def dicom_lake_celery(init_context: dg.InitExecutorContext) -> dg.Executor:
        config: dict[str, Any] = dict(init_context.executor_config)
        return executor_class(
            broker=config.get("broker") or broker_url(),
            backend=config.get("backend") or backend_url(),
            config_source={**celery_settings(), **(config.get("config_source") or {})},
            include=config.get("include"),
            retries=RetryMode.from_config(config["retries"]),
        )

    return dicom_lake_celery


def project_executor() -> dg.ExecutorDefinition | None:
    """The executor ``$DICOM_LAKE_EXECUTOR`` names: ``celery`` (dagster-celery on our queues), ``k8s``
    (dagster-k8s, one Kubernetes Job per step), or none: Dagster's default."""
    choice = os.environ.get(EXECUTOR_ENV_VAR, "").strip().lower()
    if choice == "celery":
        return project_celery_executor()
    if choice == "k8s":
        # One Kubernetes Job per step (deploy/helm/values.yaml); the image installs dagster-k8s.
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ExecutorSettingError(
                f"${EXECUTOR_ENV_VAR}=k8s needs the dagster-k8s package (0.29.27, matching dagster) "
                "in the code location's image"
            ) from exc
        return k8s_job_executor
    if choice in {"", "default", "multiprocess"}:
        return None
    raise ExecutorSettingError(f"${EXECUTOR_ENV_VAR}: {choice!r} is not an executor (celery, k8s or default)")
