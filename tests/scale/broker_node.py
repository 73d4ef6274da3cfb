"""A RabbitMQ node of the tests' own, on a free loopback port, that a test may restart.

The machine's broker (127.0.0.1:5672) is shared by every deployment and test run on the machine; a
test that restarts it would fail the others' runs. This node is the same installed server
(``/usr/lib/rabbitmq/bin``) started with its own name, port, data folder and Erlang cookie, and
restarted the way an operator restarts a broker without a service manager: ``rabbitmqctl stop_app``
then ``start_app`` (connections closed, non-durable queues and unacknowledged deliveries handed back,
durable queues and persistent messages kept).

    node = BrokerNode(tmp_path / "rabbitmq")
    node.start()                  # waits until an AMQP connection succeeds
    node.url                      # amqp://guest:guest@127.0.0.1:<port>//
    node.stop_app(); node.start_app()
    node.stop()                   # the node halts, its process ends
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers import free_port

RABBITMQ_BIN = Path(os.environ.get("DICOM_LAKE_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def rabbitmq_installed() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None


class BrokerNodeError(AssertionError):
    """The node did not start, stop or answer in time (its log tail in the message)."""


@dataclass
class BrokerNode:
    folder: Path
    port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"dicom-lake-test-{uuid.uuid4().hex[:8]}@localhost")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _env(self) -> dict[str, str]:
        # Nothing from the machine's node: not its env file (its NODENAME), config, plugins or cookie.
        empty_env_file = self.folder / "rabbitmq-env.conf"
        return {
            **os.environ,
            "HOME": str(self.folder / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(empty_env_file),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_BASE": str(self.folder / "base"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "base" / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "base" / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "base" / "node.pid"),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self, timeout_s: float = 60) -> None:
        (self.folder / "home").mkdir(parents=True, exist_ok=True)
        (self.folder / "base").mkdir(exist_ok=True)
        (self.folder / "rabbitmq-env.conf").write_text("")
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self._env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            # Its own process group: the script, the Erlang VM and its helpers end together.
            start_new_session=True,
        )
        handle.close()
        self.wait_healthy(timeout_s)

    def healthy(self) -> bool:
        """An AMQP connection opens and a channel answers (the application is running)."""
        from kombu import Connection

        try:
            with Connection(self.url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                connection.default_channel.basic_qos(0, 1, False)
            return True
        except Exception:  # refused, reset, or the application still booting
            return False

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerNodeError(f"node {self.name} exited {self.process.returncode}: {self._tail()}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise BrokerNodeError(f"node {self.name} not healthy after {timeout_s} s: {self._tail()}")

    def ctl(self, *args: str, timeout_s: float = 60) -> None:
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if result.returncode != 0:
            raise BrokerNodeError(f"rabbitmqctl {' '.join(args)}: {result.stderr[-1000:]}")

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self, timeout_s: float = 60) -> None:
        self.ctl("start_app")
        self.wait_healthy(timeout_s)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.ctl("stop", timeout_s=30)
            self.process.wait(timeout=30)
        except (BrokerNodeError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
