"""The C-STORE listener: receives what the PACS forwards and lands it in the spool (source ``listener``).

The names below are imported on first use (PEP 562), so that a module of this package needed
elsewhere - the native acceptor in a receiving process, say - does not import the whole listener.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resources.listener.errors import ListenerConfigError, ListenerError, UnreadableInstance
    from resources.listener.health import HealthReport, check_health
    from resources.listener.scp import ListenerStats, StorageListener, storage_contexts, tls_context
    from resources.listener.service import ListenerPlan, run_listener, serve

_WHERE = {
    "ListenerConfigError": "errors",
    "ListenerError": "errors",
    "UnreadableInstance": "errors",
    "HealthReport": "health",
    "check_health": "health",
    "ListenerStats": "scp",
    "StorageListener": "scp",
    "storage_contexts": "scp",
    "tls_context": "scp",
    "ListenerPlan": "service",
    "run_listener": "service",
    "serve": "service",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
