"""Our storage SCP: receives C-MOVE sub-operations (or C-GET C-STOREs) and writes them to the spool.

Engines: ``native`` (the default) serves the C-MOVE destination with the lean acceptor of
:mod:`resources.dicom_network.acceptor`, which reads PDUs straight from the socket in the connection's
thread; ``pynetdicom`` (the fallback) is a pynetdicom server, whose per-message polling caps one
association at a few hundred instances per second. C-GET always receives on its own pynetdicom
association (:meth:`SpoolWriter.handle_store`). Neither decodes the dataset: the Part 10 preamble and
File Meta Information are encoded directly as bytes, the SOP Instance/Class UIDs come from the
C-STORE request, the transfer syntax from the presentation context. Study and Series Instance UIDs
come from the retrieval context when the retriever announced the instance (it knows what it asked
for, from the image-level C-FIND); otherwise from a scan of the header
(:func:`resources.spool.instance_header.read_instance_header`, no decode).

What is received is written by :class:`~resources.pacs.spool_writer.SpoolWriter`, whose docstring
says what is guaranteed and when.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Literal

from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from resources.dicom_network.acceptor import NativeAcceptor
from resources.dicom_network.acceptor_settings import AcceptorSettings
from resources.dicom_network.association import (
    NetworkOptions,
    make_ae,
    nodelay_handlers,
    share_supported_contexts,
)
from resources.pacs.spool_writer import SpoolWriter

log = logging.getLogger(__name__)

MAX_ASSOCIATIONS = 32  # sub-associations a PACS may open at once towards one retrieval

Engine = Literal["native", "pynetdicom"]
ENGINES: tuple[Engine, ...] = ("native", "pynetdicom")


def storage_sop_classes() -> tuple[str, ...]:
    return tuple(str(context.abstract_syntax) for context in AllStoragePresentationContexts)


class StorageScp:
    """A storage SCP started for one retrieval, writing into one spool partition.

    Accepts every storage SOP class in every transfer syntax (we store bytes as received), whatever
    the calling and called AE titles. Use as a context manager:
    ``with StorageScp(...) as scp: port = scp.port``. Stopping it flushes the writer.
    """

    def __init__(
        self,
        writer: SpoolWriter,
        *,
        ae_title: str,
        bind: str = "127.0.0.1",
        port: int = 0,
        options: NetworkOptions | None = None,
        engine: Engine = "native",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown storage SCP engine {engine!r} (one of {', '.join(ENGINES)})")
        self.writer = writer
        self.ae_title = ae_title
        self.bind = bind
        self.requested_port = port
        self.options = options or NetworkOptions()
        self.engine = engine
        self._server: ThreadedAssociationServer | None = None
        self._native: NativeAcceptor | None = None

    @property
    def port(self) -> int:
        if self._native is not None:
            return self._native.port
        if self._server is None:
            raise RuntimeError("the storage SCP is not running")
        return int(self._server.server_address[1])

    def start(self) -> int:
        """Start listening (in background threads); returns the bound port.

        Raises
        ------
        OSError
            If the address cannot be bound (port in use, permission).
        """
        if self.engine == "native":
            self._start_native()
        else:
            self._start_pynetdicom()
        log.info("storage SCP %s (%s) listening on %s:%d", self.ae_title, self.engine, self.bind, self.port)
        return self.port

    def _start_native(self) -> None:
        settings = AcceptorSettings(
            ae_title=self.ae_title.strip(),
            allowed_calling_ae_titles=frozenset(),
            allowed_hosts=frozenset(),
            max_associations=MAX_ASSOCIATIONS,
            sop_classes=frozenset(storage_sop_classes()),
            transfer_syntaxes=tuple(str(ts) for ts in ALL_TRANSFER_SYNTAXES),
            association=self.options,
            check_calling_ae_title=False,
            check_called_ae_title=False,
        )
        acceptor = NativeAcceptor(
            settings,
            self.writer,
            bind=(self.bind, self.requested_port),
            thread_name="storage-scp",
            poll_interval_s=0.02,
        )
        acceptor.start()
        self._native = acceptor

    def _start_pynetdicom(self) -> None:
        ae = make_ae(self.ae_title, self.options)
        for uid in storage_sop_classes():
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_associations = MAX_ASSOCIATIONS
        handlers: list[Any] = [(evt.EVT_C_STORE, self.writer.handle_store)]
        handlers += nodelay_handlers(self.options.tcp_nodelay)
        server = ae.make_server(
            (self.bind, self.requested_port), ae_title=self.ae_title, evt_handlers=handlers
        )
        share_supported_contexts(server)
        ae._servers.append(server)  # as start_server does: server.shutdown() deregisters it
        # Our own serving thread with a short poll interval: start_server's 0.5 s makes every stop() wait
        # up to half a second, once per retrieval.
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="storage-scp", daemon=True
        ).start()
        self._server = server

    def stop(self) -> None:
        if self._native is not None:
            self._native.shutdown()
            self._native = None
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self.writer.flush()

    def __enter__(self) -> StorageScp:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
