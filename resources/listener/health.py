"""Is the listener alive? A heartbeat file per listener process, and an optional HTTP endpoint.

Each serving process rewrites ``<spool>/.listener/<pid>.json`` every few seconds (pid, port, counters).
``dicom-lake health`` reads those files and also opens a TCP connection to the port; with
``listener.health_port`` set, ``GET /health`` on that port answers the same JSON (200 when alive).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATUS_FOLDER = ".listener"
STALE_AFTER_S = 30.0


def status_folder(spool_root: Path) -> Path:
    return spool_root / STATUS_FOLDER


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class HealthReport:
    alive: bool
    port_open: bool
    processes: list[dict[str, Any]]
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "alive" if self.alive else "down",
            "port_open": self.port_open,
            "processes": self.processes,
            "problems": self.problems,
        }


def port_accepts(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with socket.create_connection((target, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_health(spool_root: Path, host: str, port: int, *, now: float | None = None) -> HealthReport:
    """Read the heartbeat files and probe the port."""
    now = time.time() if now is None else now
    processes: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in sorted(status_folder(spool_root).glob("*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        age = now - float(info.get("heartbeat_at", 0))
        pid = int(info.get("pid", -1))
        if not _pid_alive(pid):
            problems.append(f"process {pid} left a heartbeat but is gone")
            continue
        if age > STALE_AFTER_S:
            problems.append(f"process {pid} heartbeat is {age:.0f} s old")
            continue
        if info.get("spool_write_error"):
            problems.append(
                f"process {pid}: {info.get('split_backlog', 0)} acknowledged instance(s) wait in the "
                f"journal, the spool cannot be written ({info['spool_write_error']})"
            )
        processes.append(info)
    if not processes:
        problems.append("no live listener process has a fresh heartbeat")
    opened = port_accepts(host, port)
    if not opened:
        problems.append(f"nothing accepts connections on {host}:{port}")
    return HealthReport(
        alive=bool(processes) and opened, port_open=opened, processes=processes, problems=problems
    )


class HealthServer:
    """``GET /health`` -> the JSON of a status callable (200), on a port of its own."""

    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]]) -> None:
        provider = status

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") not in ("/health", ""):
                    self.send_error(404)
                    return
                body = json.dumps(provider()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # request lines are noise; the listener logs what matters

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="listener-health", daemon=True
        )

    def start(self) -> int:
        self._thread.start()
        return self.port

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.shutdown()
            self._server.server_close()
