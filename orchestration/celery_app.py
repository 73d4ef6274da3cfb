"""The celery app a ``dicom-lake worker`` runs: the project's queues and dagster-celery's step task.

``celery -A orchestration.celery_app worker`` would work too; ``dicom-lake worker`` adds the site file,
the queues and the start-up checks. Before a step runs, the worker compares the data zones it sees
with those the run recorded when it started (:mod:`resources.store_identity`): a worker on another
store fails the step with one clear line instead of writing where nothing else reads. A step task
delivered twice runs once (:mod:`orchestration.step_lease`). Each worker deletes step results past
``result_expires`` once an hour (:func:`purge_expired_results`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import worker_ready

from orchestration.executors import STORE_IDENTITY_TAG, current_celery_app
from orchestration.step_lease import lease_database, step_lease, stored_success
from resources.site_config import load_site_config
from resources.store_identity import check_same_store, parse_identity_tag, read_store_identity

logger = logging.getLogger(__name__)
app = current_celery_app()


def _dagster_step_task() -> Any:
    """dagster-celery's own step task, on an app of its own: ours wraps it under the same name."""
    from celery import Celery
    from dagster_celery.tasks import create_task

    return create_task(Celery("dicom-lake-steps"), shared=False)


_inner = _dagster_step_task()


def check_run_store(instance_ref: Any, run_id: str) -> None:
    """Raise unless this worker sees the data zones the run recorded when it started.

    Raises
    ------
    resources.store_identity.StoreIdentityError
        Naming the zone's folder as this worker sees it and both identities.
    """
    from dagster import DagsterInstance

    if instance_ref is None:
        return
    with DagsterInstance.from_ref(instance_ref) as instance:
        run = instance.get_run_by_id(run_id)
    recorded = run.tags.get(STORE_IDENTITY_TAG) if run is not None else None
    if recorded is None:
        return  # a run started by another executor records nothing to compare
    seen = read_store_identity(load_site_config().paths)
    check_same_store(parse_identity_tag(recorded), seen, where="this worker")


@app.task(bind=True, name="execute_plan")
def execute_plan(self: Any, execute_step_args_packed: dict[str, Any], executable_dict: dict[str, Any]) -> Any:
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import unpack_value

    args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
    task_id = self.request.id
    with step_lease(lease_database(self.backend), task_id):
        if lease_database(self.backend) is not None:
            done, result = stored_success(self.backend, task_id)
            if done:
                # A copy of a task that ended while its acknowledgement was cut off (a broker
                # restart): the step ran once; hand the orchestrator the same events again.
                logger.info(
                    "task %s already ran (step %s): its result returned", task_id, args.step_keys_to_execute
                )
                return result
        check_run_store(args.instance_ref, args.run_id)
        # The inner task reports this worker's name in the step's engine event: give it our request.
        _inner.push_request(hostname=self.request.hostname)
        try:
            events = _inner.run(execute_step_args_packed, executable_dict)
        finally:
            _inner.pop_request()
        if lease_database(self.backend) is not None:
            # Stored before the lease is let go, so that a copy waiting for it finds the step done.
            self.backend.store_result(task_id, events, "SUCCESS", request=self.request)
        return events


RESULT_CLEANUP_INTERVAL_S = 3600.0


def purge_expired_results(backend: Any) -> None:
    """Delete the step results older than ``result_expires`` from the result backend.

    Celery's database backend keeps every result until its ``cleanup`` runs (celery beat's daily
    ``backend_cleanup`` task, which the project does not run); other backends expire results on their
    own and their ``cleanup`` does nothing. Every worker does it: the DELETE is idempotent.
    """
    backend.cleanup()


def _result_cleanup_loop(backend: Any, interval_s: float) -> None:
    while True:
        try:
            purge_expired_results(backend)
        except Exception as exc:  # the database away for a while: the next round tries again
            logger.warning("step results not cleaned up: %s", str(exc).splitlines()[0][:200])
        time.sleep(interval_s)


@worker_ready.connect
def _start_result_cleanup(**_: Any) -> None:
    threading.Thread(
        target=_result_cleanup_loop,
        args=(app.backend, RESULT_CLEANUP_INTERVAL_S),
        name="result-cleanup",
        daemon=True,
    ).start()
