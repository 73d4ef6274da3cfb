"""Association plumbing shared by our SCUs and our storage SCP: AE factory, timeouts, TCP_NODELAY.

Why TCP_NODELAY: over loopback (and on many LANs) a DICOM exchange stalls about 40 ms per message when
one side writes a message in two pieces and the other delays its ACK (Nagle's algorithm meeting delayed
ACKs). pynetdicom sets no socket option beyond SO_REUSEADDR, so we set TCP_NODELAY ourselves from an
``EVT_CONN_OPEN`` handler. pynetdicom fires that event right after ``connect()`` on the requestor side
(before the A-ASSOCIATE-RQ is written) and right after ``accept()`` on the acceptor side (before the
A-ASSOCIATE-RQ is read), so the option covers the whole association, negotiation included. The same
handler list is passed to ``ae.associate(...)`` and ``ae.start_server(...)``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE, Association, _config, evt
from pynetdicom.presentation import PresentationContext

from resources.pacs.errors import PacsRefusedError, PacsUnavailableError
from resources.site_config import PacsSettings

log = logging.getLogger(__name__)

EventHandlers = list[Any]


def set_tcp_nodelay(event: evt.Event) -> None:
    """``EVT_CONN_OPEN`` handler: turn Nagle's algorithm off on the association's socket."""
    wrapped = getattr(event.assoc.dul, "socket", None)
    raw = getattr(wrapped, "socket", None)
    if raw is None:
        return
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # e.g. a socket type without TCP options; never fatal
        log.debug("could not set TCP_NODELAY: %s", exc)


def nodelay_handlers(enabled: bool) -> EventHandlers:
    """The event handlers that apply our socket options (empty when ``enabled`` is False)."""
    return [(evt.EVT_CONN_OPEN, set_tcp_nodelay)] if enabled else []


@dataclass(frozen=True)
class PeerAddress:
    """Where the PACS is and who we are to it."""

    host: str
    port: int
    called_ae_title: str
    calling_ae_title: str

    def describe(self) -> str:
        return f"{self.called_ae_title}@{self.host}:{self.port} (calling AE {self.calling_ae_title})"


@dataclass(frozen=True)
class NetworkOptions:
    """Timeouts and socket options for every association we open or accept."""

    tcp_nodelay: bool = True
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 120.0
    network_timeout_s: float = 120.0
    connection_timeout_s: float = 10.0
    max_pdu: int = 0
    # Who sends our C-FIND and C-MOVE requests: the lean requestor of resources.dicom_network.requestor
    # ("native") or pynetdicom. C-ECHO and C-GET always go through pynetdicom.
    scu_engine: str = "native"

    @classmethod
    def from_settings(cls, settings: PacsSettings) -> NetworkOptions:
        return cls(
            tcp_nodelay=settings.tcp_nodelay,
            acse_timeout_s=settings.acse_timeout_s,
            dimse_timeout_s=settings.dimse_timeout_s,
            network_timeout_s=settings.network_timeout_s,
            max_pdu=settings.max_pdu,
            scu_engine=settings.scu_engine,
        )


def peer_from_settings(settings: PacsSettings) -> PeerAddress:
    return PeerAddress(
        host=settings.host,
        port=settings.port,
        called_ae_title=settings.called_ae_title,
        calling_ae_title=settings.calling_ae_title,
    )


def make_ae(ae_title: str, options: NetworkOptions) -> AE:
    """An application entity with our timeouts set explicitly (pynetdicom defaults are not ours).

    Also turns pynetdicom's standard per-message log handlers off (process-wide, as the listener
    does): they format every DIMSE message - one C-MOVE pending response per sub-operation - whatever
    the log level, and say nothing an operator needs; our own log lines replace them.
    """
    _config.LOG_HANDLER_LEVEL = "none"
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = options.acse_timeout_s
    ae.dimse_timeout = options.dimse_timeout_s
    ae.network_timeout = options.network_timeout_s
    ae.connection_timeout = options.connection_timeout_s
    ae.maximum_pdu_size = options.max_pdu
    return ae


@dataclass
class _RejectionCapture:
    reason: str | None = None
    handlers: EventHandlers = field(default_factory=list)

    def on_acse_recv(self, event: evt.Event) -> None:
        primitive: Any = getattr(event, "primitive", None)
        result = getattr(primitive, "result", None)
        if result in (0x01, 0x02):
            self.reason = f"{primitive.result_str}: {primitive.reason_str} (source: {primitive.source_str})"


def associate(
    ae: AE,
    peer: PeerAddress,
    options: NetworkOptions,
    *,
    contexts: Sequence[PresentationContext] | None = None,
    evt_handlers: EventHandlers | None = None,
    ext_neg: list[Any] | None = None,
) -> Association:
    """Open an association to ``peer`` with our socket options, or raise a clear error.

    Raises
    ------
    PacsRefusedError
        When the PACS rejects the association (typically: our calling AE title or the called AE
        title is not known to it).
    PacsUnavailableError
        When nothing answers, the connection drops, or no presentation context was accepted.
    """
    capture = _RejectionCapture()
    handlers = [*nodelay_handlers(options.tcp_nodelay), (evt.EVT_ACSE_RECV, capture.on_acse_recv)]
    handlers += list(evt_handlers or [])
    assoc = ae.associate(
        peer.host,
        peer.port,
        contexts=list(contexts) if contexts is not None else None,
        ae_title=peer.called_ae_title,
        evt_handlers=handlers,
        ext_neg=ext_neg,
    )
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PacsRefusedError(
            f"PACS {peer.describe()} rejected the association ({capture.reason or 'no reason given'}); "
            "ask the PACS administrator to register our AE title, host and port"
        )
    if assoc.is_aborted and capture.reason is None and not assoc.accepted_contexts and assoc.requestor:
        # Accepted at the ACSE level but no presentation context in common.
        rejected = getattr(assoc, "rejected_contexts", [])
        if rejected:
            raise PacsRefusedError(
                f"PACS {peer.describe()} accepted none of the {len(rejected)} proposed presentation contexts"
            )
    raise PacsUnavailableError(f"PACS {peer.describe()} did not answer an association request")


def release_quietly(assoc: Association) -> None:
    """Release an association if it is still up (used in ``finally`` blocks)."""
    if assoc.is_established:
        assoc.release()


def echo(peer: PeerAddress, options: NetworkOptions) -> float:
    """C-ECHO the PACS; returns the round trip in seconds (association included).

    Raises
    ------
    PacsRefusedError
        When the PACS rejects our association or answers the echo with a failure status.
    PacsUnavailableError
        When nothing answers.
    """
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    began = time.monotonic()
    ae = make_ae(peer.calling_ae_title, options)
    ae.add_requested_context(Verification)
    assoc = associate(ae, peer, options)
    try:
        status = assoc.send_c_echo()
    finally:
        release_quietly(assoc)
    if not status:
        raise PacsUnavailableError(f"PACS {peer.describe()} did not answer the C-ECHO")
    if int(status.Status) != 0x0000:
        raise PacsRefusedError(
            f"PACS {peer.describe()} answered the C-ECHO with status 0x{int(status.Status):04X}"
        )
    return time.monotonic() - began


class _SharedContexts(list[Any]):
    """A server's supported presentation contexts, shared read-only by its associations.

    pynetdicom deep-copies the server's supported contexts for every accepted association. With every
    storage SOP class in every transfer syntax (170 x 45) that copy costs 50-150 ms per association,
    which is paid for every C-MOVE (the PACS opens a new sub-association each time). Negotiation only
    reads those contexts, so each association gets a new list holding the same context objects.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return list(self)


def share_supported_contexts(server: Any) -> None:
    """Stop ``server`` (a pynetdicom ``AssociationServer``) deep-copying its contexts per association."""
    server.contexts = _SharedContexts(server.contexts)
