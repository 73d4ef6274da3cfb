"""Every step has its celery queue: PACS-facing steps on ``pacs``, every other step on ``cpu``."""

from __future__ import annotations

from assets.queues import CPU_QUEUE, PACS_QUEUE
from orchestration.definitions import defs
from orchestration.executors import PACS_POOL


def test_every_asset_names_its_queue_and_pacs_steps_go_to_the_pacs_queue() -> None:
    graph = defs.resolve_asset_graph()
    queues = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_external:
            continue
        tags = node.assets_def.op.tags
        queues[key.to_user_string()] = (tags.get("dagster-celery/queue"), node.assets_def.op.pool)
    assert len(queues) > 10
    untagged = sorted(name for name, (queue, _) in queues.items() if queue not in (PACS_QUEUE, CPU_QUEUE))
    assert untagged == []
    for name, (queue, pool) in queues.items():
        assert (queue == PACS_QUEUE) == (pool == PACS_POOL), name
