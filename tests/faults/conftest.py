"""Fixtures of the fault tests: real peers that a test may kill, restart or starve.

- :class:`PrivatePostgres`: a PostgreSQL cluster of the test's own (``initdb`` + ``pg_ctl`` from
  ``/usr/lib/postgresql/<version>/bin``) on a free port, so that a test may restart it; the machine's
  shared server is never touched. ``initdb`` refuses root, so as root the cluster runs as ``postgres``.
- :func:`small_filesystem`: a tmpfs of a given size (root only), unmounted in a ``finally``.

Every peer is started with ``TCP_NODELAY=1`` in its environment and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import NODELAY_ENV, free_port

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``, if any."""
    if not POSTGRES_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in POSTGRES_ROOT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    )
    for version in versions:
        if (version / "bin" / "initdb").exists() and (version / "bin" / "pg_ctl").exists():
            return version / "bin"
    return None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in ``folder`` on a free loopback port (trust authentication)."""

    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.bin_dir = bin_dir
        self.port = free_port()
        self.as_service_user = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout_s: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_service_user:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            timeout=timeout_s,
            env={**os.environ, **NODELAY_ENV},
            cwd=self.folder,
        )

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_service_user:
            shutil.chown(self.folder, SERVICE_USER, SERVICE_USER)
        self._run("initdb", "-D", str(self.data), "-U", SERVICE_USER, "-A", "trust", "--no-sync")

    def _options(self) -> str:
        # Loopback only, no Unix socket in a shared folder, and fsync kept on: the restart test relies
        # on the server's crash recovery being the real one.
        return f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(), "-w", "start")

    def restart_immediately(self) -> None:
        """``pg_ctl restart -m immediate``: the server dies as in a crash, recovers and comes back."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(), "-m", "immediate",
            "-w", "restart",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout_s=30)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster, stopped and deleted afterwards (skips without PostgreSQL)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL server binaries (initdb, pg_ctl) under {POSTGRES_ROOT}")
    # Directly under the system temp folder: pytest's own temp folders are private to this user, and
    # the cluster may run as the service user.
    folder = Path(tempfile.mkdtemp(prefix="dicom-lake-faults-pg-"))
    cluster = PrivatePostgres(folder, bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def require_root_for_mount() -> None:
    """Skip with the reason when this process cannot mount filesystems."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the fault tests as root)")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed")


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``mountpoint``, unmounted (lazily if busy) at the end.

    Raises
    ------
    subprocess.CalledProcessError
        When the mount fails.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield mountpoint
    finally:
        result = subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


def resize_filesystem(mountpoint: Path, size: str) -> None:
    """Grow (or shrink) a tmpfs in place; its files stay.

    Raises
    ------
    subprocess.CalledProcessError
        When the remount fails.
    """
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True, capture_output=True, timeout=30
    )
