"""Our storage SCP: receives C-MOVE sub-operations (or C-GET C-STOREs) and writes them to the spool.

Performance: the C-STORE handler never decodes the dataset. ``event.encoded_dataset()`` gives the
Part 10 bytes (preamble, meta header, dataset as received) and the SOP Instance/Class UIDs come from
the C-STORE request. Study and Series Instance UIDs come from the retrieval context when the retriever
announced the instance (it knows what it asked for, from the image-level C-FIND); otherwise from a
partial parse of the header (``stop_before_pixels`` + ``specific_tags``), which reads the element
headers only up to the pixel data.

Durability: each file is written by :meth:`SpoolStore.store` (temporary file, fsync, rename, fsync of
the folder) and indexed with its SHA-256 before we answer Success, so a Success status means the
instance is safely on disk.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from io import BytesIO
from types import TracebackType
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from resources.pacs.network import NetworkOptions, make_ae, nodelay_handlers
from resources.spool import SpoolStore, SpoolWriteError

log = logging.getLogger(__name__)

_UID_TAGS = [Tag(0x0020, 0x000D), Tag(0x0020, 0x000E)]
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC210


@dataclass(frozen=True)
class InstanceContext:
    study_uid: str
    series_uid: str


@dataclass
class ReceiveCounters:
    received: int = 0
    bytes: int = 0
    failed: int = 0
    parsed_headers: int = 0


class SpoolWriter:
    """The C-STORE handler that writes into one spool partition (thread-safe)."""

    def __init__(self, spool: SpoolStore, partition_key: str, *, source: str = "pacs") -> None:
        self.spool = spool
        self.partition_key = partition_key
        self.source = source
        self.counters = ReceiveCounters()
        self._expected: dict[str, InstanceContext] = {}
        self._lock = threading.Lock()

    def expect(self, sop_instance_uid: str, study_uid: str, series_uid: str) -> None:
        """Announce an instance we asked for, so its UIDs need not be parsed from the bytes."""
        with self._lock:
            self._expected[sop_instance_uid] = InstanceContext(study_uid, series_uid)

    def _context_for(self, sop_instance_uid: str, data: bytes) -> InstanceContext | None:
        with self._lock:
            known = self._expected.get(sop_instance_uid)
        if known is not None:
            return known
        try:
            ds = dcmread(BytesIO(data), stop_before_pixels=True, specific_tags=_UID_TAGS)
        except (InvalidDicomError, EOFError, ValueError, OSError):
            return None
        study, series = ds.get("StudyInstanceUID"), ds.get("SeriesInstanceUID")
        with self._lock:
            self.counters.parsed_headers += 1
        if not study or not series:
            return None
        return InstanceContext(str(study), str(series))

    def handle_store(self, event: evt.Event) -> int:
        """``EVT_C_STORE`` handler: write the encoded instance to the spool; returns the DIMSE status."""
        request: Any = event.request
        sop_uid = str(request.AffectedSOPInstanceUID)
        sop_class = str(request.AffectedSOPClassUID)
        data = event.encoded_dataset()
        context = self._context_for(sop_uid, data)
        if context is None:
            log.warning("instance %s: no Study/Series Instance UID in its header; refused", sop_uid)
            with self._lock:
                self.counters.failed += 1
            return STATUS_CANNOT_UNDERSTAND
        try:
            record = self.spool.store(
                data,
                sop_instance_uid=sop_uid,
                sop_class_uid=sop_class,
                study_uid=context.study_uid,
                series_uid=context.series_uid,
                partition_key=self.partition_key,
                source=self.source,
                calling_ae_title=str(event.assoc.requestor.ae_title),
            )
        except SpoolWriteError as exc:
            log.error("instance %s: %s", sop_uid, exc)
            with self._lock:
                self.counters.failed += 1
            return STATUS_OUT_OF_RESOURCES
        with self._lock:
            self.counters.received += 1
            self.counters.bytes += record.size_bytes
        return STATUS_SUCCESS


class StorageScp:
    """A storage SCP started for one retrieval, writing into one spool partition.

    Accepts every storage SOP class in every transfer syntax (we store bytes as received). Use as a
    context manager: ``with StorageScp(...) as scp: port = scp.port``.
    """

    def __init__(
        self,
        writer: SpoolWriter,
        *,
        ae_title: str,
        bind: str = "127.0.0.1",
        port: int = 0,
        options: NetworkOptions | None = None,
    ) -> None:
        self.writer = writer
        self.ae_title = ae_title
        self.bind = bind
        self.requested_port = port
        self.options = options or NetworkOptions()
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
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
        ae = make_ae(self.ae_title, self.options)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_associations = 32
        handlers: list[Any] = [(evt.EVT_C_STORE, self.writer.handle_store)]
        handlers += nodelay_handlers(self.options.tcp_nodelay)
        self._server = ae.start_server(
            (self.bind, self.requested_port), block=False, evt_handlers=handlers, ae_title=self.ae_title
        )
        log.info("storage SCP %s listening on %s:%d", self.ae_title, self.bind, self.port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageScp:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
