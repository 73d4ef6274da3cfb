"""The C-STORE listener: receives what the PACS forwards and lands it in the spool (source ``listener``).

The names below are imported on first use (PEP 562), so that a module of this package needed
elsewhere does not import the whole listener (pynetdicom included).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resources.listener.errors import ListenerConfigError, ListenerError
    from resources.listener.health import HealthReport, check_health
    from resources.listener.service import ListenerPlan, run_listener, serve
    from resources.listener.storage_contexts import storage_contexts
    from resources.listener.storage_listener import ListenerStats, StorageListener
    from resources.listener.tls import tls_context

_WHERE = {
    "ListenerConfigError": "errors",
    "ListenerError": "errors",
    "HealthReport": "health",
    "check_health": "health",
    "ListenerStats": "storage_listener",
    "StorageListener": "storage_listener",
    "storage_contexts": "storage_contexts",
    "tls_context": "tls",
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
