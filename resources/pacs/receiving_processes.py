"""Receiving processes: the C-MOVE destination served by worker processes sharing one listening socket.

With several moves at once, one Python process receiving every sub-association shares one interpreter
lock between the receiving threads, the C-MOVE requestors and the indexing thread; on two cores that
process tops out near one core. Here each worker process receives one association at a time (the
others take the next ones from the shared listening socket, as dcmtk's ``storescp --fork`` does with
a process per association) and writes, makes durable and indexes what it receives exactly as the
in-process :class:`~resources.pacs.spool_writer.SpoolWriter` does: same spool layout, same index rows,
same durability order (see :mod:`resources.pacs.spool_writer`).

:class:`ReceivingProcesses` is what :class:`~resources.pacs.retrieve.PartitionRetriever` uses in
their place: the storage SCP and the writer in one object. Its :meth:`~ReceivingProcesses.flush`
asks every worker to make what it received durable and indexed and waits for all of them, so the
retriever's check of a move against the spool index sees the same thing as in-process.

The parent binds the socket (so a port in use is reported where it always was) and hands it to each
worker, started with ``python -m resources.pacs.receiving_worker`` (:mod:`resources.pacs.receiving_worker`);
they talk over the worker's stdin and stdout, one JSON object a line. A worker that dies loses only
what it had not indexed yet: the retriever finds those instances missing and moves them again.
Workers read Study and Series Instance UIDs from each instance's header (no announced instances), and
log to the parent's stderr.

A worker imports neither pydicom nor pynetdicom (what it accepts comes in its configuration) and
starts in about 0.1 s of CPU; they serve concurrent moves (``retrieval.receiving_processes``, by
default one per concurrent move when there are several), and a single move is received in-process.
An instance whose header lacks Study or Series Instance UID is refused here, where the in-process
writer would have filed it under the UIDs the retriever announced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from resources.dicom_network.association_settings import AssociationSettings
from resources.pacs.errors import PacsError
from resources.pacs.receiving_worker import COUNTERS
from resources.pacs.spool_writer import ReceiveCounters
from resources.spool import SpoolStore

if TYPE_CHECKING:  # the workers must not import pynetdicom (see ReceivingProcesses.start)
    from resources.dicom_network.association import NetworkOptions

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0  # a worker still finishing an association gets this long before it is killed
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class ReceivingProcessError(PacsError):
    """A receiving process could not start, or every one of them is gone."""


class _Worker:
    def __init__(self, number: int, process: subprocess.Popen[bytes]) -> None:
        self.number = number
        self.process = process
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.alive = True

    def send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def reply(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise EOFError
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ReceivingProcessError(str(answer["error"]))
        return answer


class ReceivingProcesses:
    """``processes`` storage SCP workers on one port, writing into one spool partition.

    Stands in for both :class:`~resources.pacs.storage_scp.StorageScp` and its
    :class:`~resources.pacs.spool_writer.SpoolWriter`: ``start``/``stop``/``port`` for the one,
    ``accept_studies``/``expect``/``flush``/``close``/``counters`` for the other. Use as a context
    manager: ``with ReceivingProcesses(...) as scp: port = scp.port``.
    """

    def __init__(
        self,
        spool: SpoolStore,
        partition_key: str,
        *,
        processes: int,
        ae_title: str,
        bind: str = "127.0.0.1",
        port: int = 0,
        options: NetworkOptions | None = None,
        source: str = "pacs",
    ) -> None:
        self.spool = spool
        self.partition_key = partition_key
        self.processes = max(1, processes)
        self.ae_title = ae_title
        self.bind = bind
        self.requested_port = port
        if options is None:
            from resources.dicom_network.association import NetworkOptions

            options = NetworkOptions()
        self.options = options
        self.source = source
        self._studies: set[str] | None = None
        self._socket: socket.socket | None = None
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # one conversation with the workers at a time
        self._running = False

    # -- the writer's side ------------------------------------------------------------------------
    def accept_studies(self, study_uids: set[str]) -> None:
        """Refuse instances of any other study; must be called before :meth:`start`."""
        if self._workers:
            raise RuntimeError("accept_studies() must come before the receiving processes start")
        self._studies = set(study_uids)

    def expect(self, sop_instance_uid: str, study_uid: str, series_uid: str) -> None:
        """Nothing to do: the workers read each instance's UIDs from its header."""

    @property
    def counters(self) -> ReceiveCounters:
        """What the workers reported at their last flush (everything received, once stopped)."""
        totals = dict.fromkeys(COUNTERS, 0)
        for worker in self._workers:
            for name in COUNTERS:
                totals[name] += worker.counters[name]
        return ReceiveCounters(**totals)

    def flush(self) -> int:
        """Have every worker make what it received durable and indexed; returns how many were indexed.

        Raises
        ------
        ReceivingProcessError
            If no worker is left (what they indexed before is kept; the rest is moved again).
        """
        if not self._running:
            return 0
        answers = self._ask_all({"op": "flush"})
        indexed = sum(int(a.get("indexed", 0)) for a in answers)
        if self._workers and not any(w.alive for w in self._workers):
            raise ReceivingProcessError(
                f"partition {self.partition_key}: every receiving process has exited; instances they "
                "had not indexed are moved again by the next attempt"
            )
        return indexed

    def close(self) -> None:
        self.stop()

    # -- the storage SCP's side -------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the receiving processes are not running")
        return int(self._socket.getsockname()[1])

    def start(self) -> int:
        """Bind the port, start the workers and wait until each one serves it; returns the port.

        Raises
        ------
        OSError
            If the address cannot be bound (port in use, permission).
        ReceivingProcessError
            If a worker cannot start (the others are stopped).
        """
        # What the workers accept, from pynetdicom's tables: looked up here so that they need not import it.
        from pynetdicom import ALL_TRANSFER_SYNTAXES

        from resources.pacs.storage_scp import storage_sop_classes

        listening = socket.create_server((self.bind, self.requested_port), backlog=128)
        self._socket = listening
        config = {
            "sop_classes": list(storage_sop_classes()),
            "transfer_syntaxes": [str(ts) for ts in ALL_TRANSFER_SYNTAXES],
            "spool_root": str(self.spool.root),
            "fsync": self.spool.fsync,
            "partition_key": self.partition_key,
            "source": self.source,
            "studies": sorted(self._studies) if self._studies is not None else None,
            "ae_title": self.ae_title.strip(),
            # The association settings only (the worker builds the acceptor's from them).
            "association": {
                field.name: getattr(self.options, field.name)
                for field in dataclasses.fields(AssociationSettings)
            },
            "listen_fd": listening.fileno(),
        }
        # The worker imports this package from where the parent did (an installed or a source tree).
        path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        for number in range(self.processes):
            process = subprocess.Popen(
                [sys.executable, "-m", "resources.pacs.receiving_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=[listening.fileno()],
                env=env,
            )
            worker = _Worker(number, process)
            self._workers.append(worker)
            worker.send(config)
        # The workers import in parallel; each says when it is serving.
        for worker in self._workers:
            try:
                worker.reply()
            except (EOFError, ValueError, OSError, ReceivingProcessError) as exc:
                self._kill_all()
                detail = str(exc) or f"exited with code {worker.process.wait()}"
                raise ReceivingProcessError(
                    f"receiving process {worker.number} did not start: {detail}"
                ) from exc
        self._running = True
        log.info(
            "storage SCP %s listening on %s:%d with %d receiving processes",
            self.ae_title,
            self.bind,
            self.port,
            self.processes,
        )
        return self.port

    def stop(self) -> None:
        """Flush and stop every worker (a worker that does not stop in time is killed), then unbind."""
        if not self._running:
            return
        self._running = False
        self._ask_all({"op": "stop"})  # each worker flushes, answers with its final counts, exits
        for worker in self._workers:
            try:
                worker.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("receiving process %d did not stop; killed", worker.number)
                worker.process.kill()
                worker.process.wait()
            self._close_pipes(worker)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> ReceivingProcesses:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- talking to the workers -------------------------------------------------------------------
    def _ask_all(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Send ``message`` to every live worker, then collect their answers (they work in parallel)."""
        answers: list[dict[str, Any]] = []
        with self._lock:
            asked: list[_Worker] = []
            for worker in self._workers:
                if not worker.alive:
                    continue
                try:
                    worker.send(message)
                    asked.append(worker)
                except OSError:
                    self._lost(worker)
            for worker in asked:
                try:
                    answer = worker.reply()
                except (EOFError, ValueError, OSError, ReceivingProcessError):
                    self._lost(worker)
                    continue
                worker.counters.update({k: int(answer[k]) for k in COUNTERS if k in answer})
                answers.append(answer)
        return answers

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        code = worker.process.poll()
        log.error(
            "partition %s: receiving process %d has exited (code %s); instances it had not indexed "
            "are moved again",
            self.partition_key,
            worker.number,
            code,
        )

    def _kill_all(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.process.kill()
            worker.process.wait()
            self._close_pipes(worker)
        self._workers = []
        if self._socket is not None:
            self._socket.close()

    @staticmethod
    def _close_pipes(worker: _Worker) -> None:
        for pipe in (worker.process.stdin, worker.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
