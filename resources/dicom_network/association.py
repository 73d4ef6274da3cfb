"""Association plumbing on pynetdicom shared by our SCUs and our storage SCP: AE factory, TCP_NODELAY.

pynetdicom sets no socket option beyond SO_REUSEADDR, so we set TCP_NODELAY (why: see
:mod:`resources.dicom_network.association_settings`) from an ``EVT_CONN_OPEN`` handler. pynetdicom fires
that event right after ``connect()`` on the requestor side (before the A-ASSOCIATE-RQ is written) and
right after ``accept()`` on the acceptor side (before the A-ASSOCIATE-RQ is read), so the option covers
the whole association, negotiation included. The same handler list is passed to ``ae.associate(...)``
and ``ae.start_server(...)``.

Errors are the network room's (:mod:`resources.dicom_network.errors`), which the PACS engine's
``PacsRefusedError`` and ``PacsUnavailableError`` are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE, Association, _config, evt
from pynetdicom.presentation import PresentationContext

from resources.dicom_network.association_settings import AssociationSettings, set_tcp_nodelay
from resources.dicom_network.errors import PeerRefusedError, PeerUnavailableError
from resources.dicom_network.negotiation import REJECTION_RESULTS
from resources.dicom_network.status import GeneralStatus
from resources.site_config import PacsSettings

log = logging.getLogger(__name__)

EventHandlers = list[Any]


def _nodelay_on_open(event: evt.Event) -> None:
    """``EVT_CONN_OPEN`` handler: :func:`set_tcp_nodelay` on the association's socket."""
    wrapped = getattr(event.assoc.dul, "socket", None)
    raw = getattr(wrapped, "socket", None)
    if raw is not None:
        set_tcp_nodelay(raw)


def nodelay_handlers(enabled: bool) -> EventHandlers:
    """The event handlers that apply our socket options (empty when ``enabled`` is False)."""
    return [(evt.EVT_CONN_OPEN, _nodelay_on_open)] if enabled else []


def quiet_pynetdicom_logging() -> None:
    """Turn pynetdicom's standard per-message log handlers off, process-wide.

    The one place we change pynetdicom's private ``_config``: those handlers format every DIMSE
    message - one C-MOVE pending response per sub-operation, one line per C-STORE - whatever the log
    level, and say nothing an operator needs; our own per-association log lines replace them. There is
    no public switch for it (pynetdicom 2.x).
    """
    _config.LOG_HANDLER_LEVEL = "none"


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
class NetworkOptions(AssociationSettings):
    """The PACS side's association settings, plus which engine sends its requests."""

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


def make_ae(ae_title: str, options: AssociationSettings) -> AE:
    """An application entity with our timeouts set explicitly (pynetdicom defaults are not ours).

    Also turns pynetdicom's per-message log handlers off (:func:`quiet_pynetdicom_logging`).
    """
    quiet_pynetdicom_logging()
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
        if result in REJECTION_RESULTS:
            self.reason = f"{primitive.result_str}: {primitive.reason_str} (source: {primitive.source_str})"


def associate(
    ae: AE,
    peer: PeerAddress,
    options: AssociationSettings,
    *,
    contexts: Sequence[PresentationContext] | None = None,
    evt_handlers: EventHandlers | None = None,
    ext_neg: list[Any] | None = None,
) -> Association:
    """Open an association to ``peer`` with our socket options, or raise a clear error.

    Raises
    ------
    PeerRefusedError
        When the PACS rejects the association (typically: our calling AE title or the called AE
        title is not known to it).
    PeerUnavailableError
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
        raise PeerRefusedError(
            f"PACS {peer.describe()} rejected the association ({capture.reason or 'no reason given'}); "
            "ask the PACS administrator to register our AE title, host and port"
        )
    if assoc.is_aborted and capture.reason is None and not assoc.accepted_contexts and assoc.requestor:
        # Accepted at the ACSE level but no presentation context in common.
        rejected = getattr(assoc, "rejected_contexts", [])
        if rejected:
            raise PeerRefusedError(
                f"PACS {peer.describe()} accepted none of the {len(rejected)} proposed presentation contexts"
            )
    raise PeerUnavailableError(f"PACS {peer.describe()} did not answer an association request")


def release_quietly(assoc: Association) -> None:
    """Release an association if it is still up (used in ``finally`` blocks)."""
    if assoc.is_established:
        assoc.release()


def echo(peer: PeerAddress, options: AssociationSettings) -> float:
    """C-ECHO the PACS; returns the round trip in seconds (association included).

    Raises
    ------
    PeerRefusedError
        When the PACS rejects our association or answers the echo with a failure status.
    PeerUnavailableError
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
        raise PeerUnavailableError(f"PACS {peer.describe()} did not answer the C-ECHO")
    if int(status.Status) != GeneralStatus.SUCCESS:
        raise PeerRefusedError(
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
