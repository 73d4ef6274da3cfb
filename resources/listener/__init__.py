"""The C-STORE listener: receives what the PACS forwards and lands it in the spool (source ``listener``)."""

from resources.listener.errors import ListenerConfigError, ListenerError, UnreadableInstance
from resources.listener.health import HealthReport, check_health
from resources.listener.scp import ListenerStats, StorageListener, storage_contexts, tls_context
from resources.listener.service import ListenerPlan, run_listener, serve

__all__ = [
    "HealthReport",
    "ListenerConfigError",
    "ListenerError",
    "ListenerPlan",
    "ListenerStats",
    "StorageListener",
    "UnreadableInstance",
    "check_health",
    "run_listener",
    "serve",
    "storage_contexts",
    "tls_context",
]
