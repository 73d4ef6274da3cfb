"""Step results in the instance database are deleted once expired (celery's database backend keeps
every row otherwise: a year of daily partitions would leave every step's events in it)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orchestration.executors import RESULT_EXPIRES_S, celery_settings, project_celery_app
from tests.scale.cluster import private_databases, warehouse_url
from tests.scale.conftest import require_postgres

pytestmark = [pytest.mark.postgres]


def test_expired_step_results_are_deleted_and_recent_ones_kept() -> None:
    require_postgres()
    from orchestration.celery_app import purge_expired_results

    with private_databases("results") as db:
        url = warehouse_url(db["results"])
        app = project_celery_app("memory://", f"db+{url}", "results-test-")
        assert app.conf.result_expires == RESULT_EXPIRES_S
        assert celery_settings()["result_expires"] == RESULT_EXPIRES_S
        backend = app.backend
        for task_id in ("old-step", "recent-step", "just-expired-step"):
            backend.store_result(task_id, ["event"], "SUCCESS")
        engine = sa.create_engine(url)
        try:
            with engine.begin() as con:
                con.execute(
                    sa.text(
                        "UPDATE dicom_lake_celery_task SET date_done = date_done - make_interval(secs => :s)"
                        " WHERE task_id = :id"
                    ),
                    [
                        {"id": "old-step", "s": 30 * 24 * 3600},
                        {"id": "just-expired-step", "s": RESULT_EXPIRES_S + 120},
                        {"id": "recent-step", "s": RESULT_EXPIRES_S - 3600},
                    ],
                )
            purge_expired_results(backend)
            with engine.connect() as con:
                left = set(con.execute(sa.text("SELECT task_id FROM dicom_lake_celery_task")).scalars())
        finally:
            engine.dispose()
        assert left == {"recent-step"}
        assert backend.get_task_meta("recent-step")["result"] == ["event"]


def test_every_worker_starts_the_cleanup_when_it_is_ready() -> None:
    from celery.signals import worker_ready

    import orchestration.celery_app as celery_app

    receivers = [ref() for _, ref in worker_ready.receivers]
    assert celery_app._start_result_cleanup in receivers
    assert celery_app.RESULT_CLEANUP_INTERVAL_S <= RESULT_EXPIRES_S / 4
