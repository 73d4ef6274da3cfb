"""A receiving process: serves the C-MOVE destination on a listening socket it shares with others.

Started by :class:`resources.pacs.receiving_processes.ReceivingProcesses` as
``python -m resources.pacs.receiving_worker``. It reads its configuration (one JSON line) from stdin,
serves associations one at a time with the native acceptor, writing through a
:class:`~resources.pacs.spool_writer.SpoolWriter`, and answers ``flush`` and ``stop`` requests (one
JSON line each) on stdout. It imports neither pydicom nor pynetdicom: everything it accepts comes in
its configuration.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import IO, Any

from resources.dicom_network.acceptor import NativeAcceptor
from resources.dicom_network.acceptor_settings import AcceptorSettings
from resources.dicom_network.association_settings import AssociationSettings
from resources.pacs.spool_writer import SpoolWriter
from resources.spool import SpoolStore

COUNTERS = ("received", "bytes", "failed", "parsed_headers", "refused")
"""The writer's counters a worker reports, by name."""


def _counters(writer: SpoolWriter, indexed: int) -> dict[str, int]:
    counters = writer.counters
    return {
        "received": counters.received,
        "bytes": counters.bytes,
        "failed": counters.failed,
        "parsed_headers": counters.parsed_headers,
        "refused": counters.refused,
        "indexed": indexed,
    }


def _answer(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def serve(commands: IO[bytes], out: IO[bytes]) -> int:
    """A worker's life: read its configuration, serve associations, answer flush and stop requests."""
    try:
        config = json.loads(commands.readline())
        spool = SpoolStore(Path(config["spool_root"]), fsync=bool(config["fsync"]))
        writer = SpoolWriter(spool, config["partition_key"], source=config["source"])
        if config["studies"] is not None:
            writer.accept_studies(set(config["studies"]))
        settings = AcceptorSettings(
            ae_title=config["ae_title"],
            allowed_calling_ae_titles=frozenset(),
            allowed_hosts=frozenset(),
            max_associations=1,  # one at a time: the next association waits for another worker
            sop_classes=frozenset(config["sop_classes"]),
            transfer_syntaxes=tuple(config["transfer_syntaxes"]),
            association=AssociationSettings(**config["association"]),
            check_calling_ae_title=False,
            check_called_ae_title=False,
        )
        listening = socket.socket(fileno=int(config["listen_fd"]))
        # Non-blocking: when another worker wins the race for a connection, accept() must come back
        # empty rather than wait for the next one (a stop would wait with it).
        listening.setblocking(False)
        acceptor = NativeAcceptor(
            settings,
            writer,
            bind=("", 0),
            listening_socket=listening,
            one_at_a_time=True,
            thread_name="receiving-process",
            poll_interval_s=0.005,  # how long a stop waits for the serving loop to notice
        )
        acceptor.start()
    except Exception as exc:  # the parent shows it; the worker has nothing to clean up yet
        _answer(out, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _answer(out, {"ready": True})
    for line in commands:
        op = json.loads(line).get("op")
        if op == "flush":
            _answer(out, _counters(writer, writer.flush()))
        elif op == "stop":
            acceptor.shutdown()
            indexed = writer.flush()
            writer.close()
            spool.close()
            _answer(out, _counters(writer, indexed))
            # Everything is durable and indexed: skip the interpreter's teardown, which the parent's
            # stop would otherwise wait for.
            os._exit(0)
    # The parent went away without stopping us: keep what was received.
    acceptor.shutdown()
    writer.close()
    return 0


def main() -> int:
    logging.basicConfig(
        level=logging.WARNING, format="dicom-lake receiving process: %(levelname)s %(message)s"
    )
    # The answers go to the parent on a private copy of stdout; whatever else writes to stdout (a
    # library's stray print) lands on stderr instead of in the middle of an answer.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    sys.exit(main())
