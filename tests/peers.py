"""Real DICOM peers for integration tests and benchmarks: Orthanc and dcmtk's dcmqrscp / storescp.

Each peer runs as a normal foreground child process with its configuration and storage in a temp
folder, on free loopback ports, with ``TCP_NODELAY=1`` in its environment (see TESTING.md). They are
plain classes usable from benchmarks; ``tests/conftest.py`` wraps them in pytest fixtures that skip
with a clear reason when the binary is missing.

Orthanc::

    peer = OrthancPeer(tmp, modalities={"lake": ("DICOM_LAKE", "127.0.0.1", 11113)})
    peer.start()                     # waits until GET /system answers
    peer.upload(paths)               # POST /instances
    peer.dicom_port, peer.http_port, peer.ae_title
    peer.stop()                      # SIGTERM, waits (about 4 s)

dcmqrscp (a stricter archive; does not return ModalitiesInStudy)::

    peer = DcmqrscpPeer(tmp, peers={"DICOM_LAKE": ("127.0.0.1", 11113)})
    peer.start(); peer.load(paths)   # storescu into the archive
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ORTHANC_BINARY = "Orthanc"
NODELAY_ENV = {"TCP_NODELAY": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_binaries(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def wait_for_port(port: int, timeout_s: float = 15.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port.

    Raises
    ------
    RuntimeError
        If the process exits or the port does not open in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer process exited with code {process.returncode} before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


def _stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class OrthancPeer:
    """A private Orthanc instance (Debian package ``orthanc``) on free loopback ports.

    ``modalities`` maps a name to ``(ae_title, host, port)``: the AEs allowed to query/retrieve and
    the C-MOVE destinations. ``extra_config`` is merged into ``orthanc.json`` (e.g.
    ``{"DicomAlwaysAllowGet": True}``). ``always_allow_find_move`` False (default) makes Orthanc
    refuse unknown calling AE titles, as a real PACS does.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        ae_title: str = "ORTHANC",
        modalities: Mapping[str, tuple[str, str, int]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.ae_title = ae_title
        self.modalities = dict(modalities or {})
        self.extra_config = dict(extra_config or {})
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def config(self) -> dict[str, Any]:
        modalities: dict[str, Any] = {}
        for name, (ae, host, port) in self.modalities.items():
            modalities[name] = {
                "AET": ae,
                "Host": host,
                "Port": port,
                "AllowEcho": True,
                "AllowFind": True,
                "AllowMove": True,
                "AllowGet": True,
                "AllowStore": True,
            }
        config: dict[str, Any] = {
            "Name": "dicom-lake-test",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "Plugins": [],
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowMove": False,
            "DicomAlwaysAllowGet": False,
            "DicomCheckModalityHost": False,
            "DicomModalities": modalities,
            "StorageCompression": False,
            "HttpVerbose": False,
            "StableAge": 1,
            "ConcurrentJobs": 2,
            "DicomScpTimeout": 30,
        }
        config.update(self.extra_config)
        return config

    def start(self, timeout_s: float = 30.0) -> OrthancPeer:
        """Write the config, start Orthanc and wait for its REST API.

        Raises
        ------
        RuntimeError
            If Orthanc exits or does not answer in time (its log folder is named in the message).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2))
        env = {**os.environ, **NODELAY_ENV}
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, f"--logdir={logs}", str(config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with code {self.process.returncode}; see logs in {logs}")
            try:
                self.rest("GET", "/system")
                wait_for_port(self.dicom_port, timeout_s=5, process=self.process)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s; see logs in {logs}")

    def stop(self) -> None:
        _stop_process(self.process)
        self.process = None

    def rest(self, method: str, path: str, body: bytes | dict[str, Any] | None = None) -> Any:
        """Call the REST API; JSON answers are decoded.

        Raises
        ------
        urllib.error.HTTPError
            On an HTTP error status.
        """
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            payload = answer.read()
        try:
            return json.loads(payload)
        except ValueError:
            return payload

    def upload(self, paths: Iterable[Path]) -> int:
        """Load DICOM files with ``POST /instances``; returns how many were stored."""
        count = 0
        for path in paths:
            self.rest("POST", "/instances", Path(path).read_bytes())
            count += 1
        return count

    def clear(self) -> None:
        """Delete every patient (and so every study) from this Orthanc."""
        for patient in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{patient}")

    def add_modality(self, name: str, ae_title: str, host: str, port: int) -> None:
        """Register (or update) a DICOM modality at run time (``PUT /modalities/<name>``)."""
        self.modalities[name] = (ae_title, host, port)
        self.rest(
            "PUT",
            f"/modalities/{name}",
            {
                "AET": ae_title,
                "Host": host,
                "Port": port,
                "AllowEcho": True,
                "AllowFind": True,
                "AllowMove": True,
                "AllowGet": True,
                "AllowStore": True,
            },
        )

    def __enter__(self) -> OrthancPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DcmqrscpPeer:
    """dcmtk's ``dcmqrscp`` archive with a config of its own (default multi-process mode).

    Started with ``--disable-host-lookup``: peers are matched by IP address (127.0.0.1), because the
    reverse lookup of 127.0.0.1 gives ``localhost`` and dcmqrscp would then refuse every peer.

    ``peers`` maps an AE title to ``(host, port)``: the AEs allowed to talk to the archive and the
    C-MOVE destinations. Files are loaded by C-STORE with ``storescu``.
    """

    def __init__(
        self, workdir: Path, *, ae_title: str = "DCMQRSCP", peers: Mapping[str, tuple[str, int]] | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.ae_title = ae_title
        self.peers = dict(peers or {})
        self.port = free_port()
        self.loader_ae = "LOADER"
        self.process: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        storage = self.workdir / "archive"
        hosts = [f"loader = ({self.loader_ae}, 127.0.0.1, {free_port()})"]
        names = ["loader"]
        for index, (ae, (host, port)) in enumerate(self.peers.items()):
            hosts.append(f"peer{index} = ({ae}, {host}, {port})")
            names.append(f"peer{index}")
        return "\n".join(
            [
                f"NetworkTCPPort  = {self.port}",
                "MaxPDUSize      = 16384",
                "MaxAssociations = 16",
                "",
                "HostTable BEGIN",
                *hosts,
                f"allpeers = {', '.join(names)}",
                "HostTable END",
                "",
                "VendorTable BEGIN",
                "VendorTable END",
                "",
                "AETable BEGIN",
                f"{self.ae_title} {storage} RW (200, 1024mb) allpeers",
                "AETable END",
                "",
            ]
        )

    def start(self, timeout_s: float = 15.0) -> DcmqrscpPeer:
        """Write the config and start the archive.

        Raises
        ------
        RuntimeError
            If dcmqrscp exits or does not listen in time.
        """
        (self.workdir / "archive").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "dcmqrscp.cfg"
        config.write_text(self.config_text())
        self.process = subprocess.Popen(
            ["dcmqrscp", "--disable-host-lookup", "-c", str(config), str(self.port)],
            stdout=(self.workdir / "dcmqrscp.log").open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **NODELAY_ENV},
            cwd=self.workdir,
        )
        wait_for_port(self.port, timeout_s=timeout_s, process=self.process)
        return self

    def load(self, paths: Iterable[Path]) -> None:
        """Store files into the archive with ``storescu`` (``-R``: only the contexts needed).

        Raises
        ------
        subprocess.CalledProcessError
            If storescu fails.
        """
        files = [str(p) for p in paths]
        for start in range(0, len(files), 200):
            subprocess.run(
                [
                    "storescu",
                    "-R",
                    "-aet",
                    self.loader_ae,
                    "-aec",
                    self.ae_title,
                    "127.0.0.1",
                    str(self.port),
                    *files[start : start + 200],
                ],
                check=True,
                capture_output=True,
                env={**os.environ, **NODELAY_ENV},
                timeout=120,
            )

    def stop(self) -> None:
        _stop_process(self.process)
        self.process = None

    def __enter__(self) -> DcmqrscpPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StorescpPeer:
    """dcmtk's ``storescp`` writing into a folder (the benchmark's baseline receiver)."""

    def __init__(
        self, workdir: Path, *, ae_title: str = "STORESCP", fork: bool = False, port: int | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.fork = fork  # one child process per association (for concurrent moves)
        self.ae_title = ae_title
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> StorescpPeer:
        """Start storescp (accepting every storage SOP class).

        Raises
        ------
        RuntimeError
            If storescp exits or does not listen in time.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "storescp",
                *(["--fork"] if self.fork else []),
                "-aet",
                self.ae_title,
                "-od",
                str(self.workdir),
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **NODELAY_ENV},
        )
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        _stop_process(self.process)
        self.process = None


def count_files(folder: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return sum(1 for p in folder.rglob("*") if p.is_file())
    return 0
