"""Our storage SCP: receives C-MOVE sub-operations (or C-GET C-STOREs) and writes them to the spool.

Performance: the C-STORE handler never decodes the dataset. ``event.encoded_dataset(include_meta=False)``
gives the dataset bytes as received; the Part 10 preamble and File Meta Information are encoded here
directly as bytes (:func:`encode_file_meta`: microseconds, where building them through a pydicom
Dataset costs about a millisecond per instance). The SOP Instance/Class UIDs come from the C-STORE
request, the transfer syntax from the presentation context. Study and Series Instance UIDs come from
the retrieval context when the retriever announced the instance (it knows what it asked for, from
the image-level C-FIND); otherwise from a partial parse of the header (``stop_before_pixels`` +
``specific_tags``).

Durability: each file is written by :meth:`SpoolStore.store` (temporary file, fsync, rename, fsync of
the folder) and indexed with its SHA-256 before we answer Success, so a Success status means the
instance is safely on disk.
"""

from __future__ import annotations

import logging
import struct
import threading
from dataclasses import dataclass
from io import BytesIO
from types import TracebackType
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    AllStoragePresentationContexts,
    evt,
)
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from resources.pacs.network import NetworkOptions, make_ae, nodelay_handlers, share_supported_contexts
from resources.spool import SpoolStore, SpoolWriteError

log = logging.getLogger(__name__)

_UID_TAGS = [Tag(0x0020, 0x000D), Tag(0x0020, 0x000E)]
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC210
STATUS_NOT_REQUESTED = 0xA900  # "data set does not match SOP class" is the nearest refusal PS3.4 offers


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    if vr == b"OB":
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def encode_file_meta(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, source_ae: str
) -> bytes:
    """Preamble, ``DICM`` and the File Meta Information group (PS3.10 7.1), encoded directly."""
    body = b"".join(
        (
            _element(0x0002, 0x0001, b"OB", b"\x00\x01"),
            _element(0x0002, 0x0002, b"UI", sop_class_uid.encode("ascii")),
            _element(0x0002, 0x0003, b"UI", sop_instance_uid.encode("ascii")),
            _element(0x0002, 0x0010, b"UI", transfer_syntax_uid.encode("ascii")),
            _element(0x0002, 0x0012, b"UI", str(PYNETDICOM_IMPLEMENTATION_UID).encode("ascii")),
            _element(0x0002, 0x0013, b"SH", PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii")),
            _element(0x0002, 0x0016, b"AE", source_ae.strip().encode("ascii", "replace")),
        )
    )
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + group_length + body


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
    refused: int = 0


class SpoolWriter:
    """The C-STORE handler that writes into one spool partition (thread-safe)."""

    def __init__(self, spool: SpoolStore, partition_key: str, *, source: str = "pacs") -> None:
        self.spool = spool
        self.partition_key = partition_key
        self.source = source
        self.counters = ReceiveCounters()
        self._expected: dict[str, InstanceContext] = {}
        self._studies: set[str] | None = None  # None: accept any study (e.g. a listener)
        self._lock = threading.Lock()

    def accept_studies(self, study_uids: set[str]) -> None:
        """Refuse instances of any other study (a stray sub-operation must not land in this partition)."""
        with self._lock:
            self._studies = set(study_uids)

    def expect(self, sop_instance_uid: str, study_uid: str, series_uid: str) -> None:
        """Announce an instance we asked for, so its UIDs need not be parsed from the bytes."""
        with self._lock:
            self._expected[sop_instance_uid] = InstanceContext(study_uid, series_uid)

    def _context_for(self, sop_instance_uid: str, meta: bytes, dataset: bytes) -> InstanceContext | None:
        with self._lock:
            known = self._expected.get(sop_instance_uid)
        if known is not None:
            return known
        try:
            ds = dcmread(BytesIO(meta + dataset), stop_before_pixels=True, specific_tags=_UID_TAGS)
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
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        meta = encode_file_meta(sop_class, sop_uid, str(event.context.transfer_syntax), calling_ae)
        dataset = event.encoded_dataset(include_meta=False)
        context = self._context_for(sop_uid, meta, dataset)
        if context is None:
            log.warning("instance %s: no Study/Series Instance UID in its header; refused", sop_uid)
            with self._lock:
                self.counters.failed += 1
            return STATUS_CANNOT_UNDERSTAND
        if self._studies is not None and context.study_uid not in self._studies:
            log.warning("instance %s: of a study this retrieval did not ask for; refused", sop_uid)
            with self._lock:
                self.counters.refused += 1
            return STATUS_NOT_REQUESTED
        try:
            record = self.spool.store(
                (meta, dataset),
                sop_instance_uid=sop_uid,
                sop_class_uid=sop_class,
                study_uid=context.study_uid,
                series_uid=context.series_uid,
                partition_key=self.partition_key,
                source=self.source,
                calling_ae_title=calling_ae,
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
