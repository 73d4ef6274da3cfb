"""The listener served by pynetdicom's AE (``listener.engine: pynetdicom``), the fallback engine.

pynetdicom's events are mapped onto the receiver protocol of the native acceptor
(:class:`resources.dicom_network.acceptor.Receiver`), so the receive path and the log lines are the
same whichever engine runs. Its threaded server is extended with what the native acceptor also does:
a shared port (``SO_REUSEPORT``), TCP_NODELAY, a host allow-list, the TLS handshake in the
association's thread rather than the accepting one, a limit on connections still setting up, and
bounded reads: each connection is handed to pynetdicom as a
:class:`~resources.dicom_network.bounded_socket.BoundedSocket` (PDU lengths bounded, the whole
handshake and request on the ACSE timeout, then every read on the network timeout).

What pynetdicom's own parser decides for this engine: how a request that is framed correctly but
malformed inside is answered (it aborts or rejects as its decoding fails); the native engine answers
those as the table of :mod:`resources.dicom_network.negotiation` says.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import pydicom.uid
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_RELEASE
from pynetdicom.transport import ThreadedAssociationServer

from resources.dicom_network.acceptor_settings import Receiver
from resources.dicom_network.admission import PendingConnections, refuse, tls_handshake
from resources.dicom_network.association import make_ae
from resources.dicom_network.association_settings import set_tcp_nodelay
from resources.dicom_network.bounded_socket import BoundedSocket, BoundedSSLSocket, PduBounds
from resources.dicom_network.errors import NetworkError
from resources.dicom_network.status import StoreStatus
from resources.listener.engine_settings import association_settings, pdu_bounds, pending_limit
from resources.listener.storage_contexts import StorageContexts
from resources.site_config import ListenerSettings

log = logging.getLogger(__name__)

VERIFICATION = pydicom.uid.UID("1.2.840.10008.1.1")  # C-ECHO


class ListenerReceiver(Receiver, Protocol):
    """The native acceptor's receiver, plus the end of an association's connection (its thread)."""

    def connection_closed(self) -> None: ...


class _ListenerServer(ThreadedAssociationServer):
    """pynetdicom's threaded server plus: shared port, TCP_NODELAY, and a host allow-list."""

    reuse_port: bool = False
    tcp_nodelay: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    on_refused_host: Callable[[str], None] | None = None
    on_refused_pending: Callable[[str, str], None] | None = None
    pending: PendingConnections = PendingConnections(20)
    bounds: PduBounds = PduBounds(65536, 262144, 30.0, 120.0)

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        # No TLS handshake here: this runs in the one accepting thread, so a peer that connects and
        # never completes a handshake would stop every other sender. It happens in the association's
        # thread (process_request_thread), after the host allow-list.
        assert self.socket is not None
        client_socket, address = self.socket.accept()
        if self.tcp_nodelay:
            set_tcp_nodelay(client_socket)
        return client_socket, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        accepted_at = time.monotonic()
        try:
            if self.ssl_context:
                # The context's socket class is BoundedSSLSocket (set by PynetdicomEngine.start).
                request = tls_handshake(self.ssl_context, request, accepted_at + self.bounds.acse_timeout_s)
                request.bound(self.bounds, self.pending, accepted_at)
            else:
                request = BoundedSocket.adopt(request, self.bounds, self.pending, accepted_at)
        except (OSError, NetworkError) as exc:  # ssl.SSLError and the ACSE timeout included
            self.pending.release()
            log.warning("TLS handshake with %s failed: %s", client_address[0], exc)
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def shutdown(self) -> None:
        # Built with AE.make_server, so the AE does not list this server: stop it ourselves.
        socketserver.BaseServer.shutdown(self)
        self.server_close()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        if self.allowed_hosts and host not in self.allowed_hosts:
            if self.on_refused_host is not None:
                self.on_refused_host(host)
            return False
        if not self.pending.take():
            refuse(request, tls=self.ssl_context is not None)
            if self.on_refused_pending is not None:
                self.on_refused_pending(
                    f"?@{host}:{client_address[1]}",
                    f"{self.pending.limit} connections still setting up (listener.max_pending_connections)",
                )
            return False
        return True


class PynetdicomEngine:
    """Serves the listener's port with pynetdicom, handing each C-STORE to ``receiver``."""

    def __init__(
        self,
        settings: ListenerSettings,
        receiver: ListenerReceiver,
        contexts: StorageContexts,
        *,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.receiver = receiver
        self.contexts = contexts
        self.reuse_port = reuse_port
        self.ssl_context = ssl_context
        self._lock = threading.Lock()
        self._per_association: dict[int, int] = {}
        self._server: _ListenerServer | None = None
        self.port = 0

    def _application_entity(self) -> AE:
        ae = make_ae(self.settings.ae_title, association_settings(self.settings))
        ae.maximum_associations = self.settings.max_associations
        ae.require_calling_aet = list(self.settings.allowed_calling_ae_titles)
        ae.require_called_aet = True
        ae.add_supported_context(VERIFICATION)
        for uid in self.contexts.sop_class_uids:
            ae.add_supported_context(uid, list(self.contexts.transfer_syntax_uids))
        return ae

    def start(self) -> int:
        """Start serving in background threads; returns the bound port.

        Raises
        ------
        OSError
            If the address cannot be bound.
        """
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ACSE_RECV, self._on_acse_received),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_connection_closed),
        ]
        server_class = type(
            "ListenerServer",
            (_ListenerServer,),
            {
                "reuse_port": self.reuse_port,
                "tcp_nodelay": self.settings.tcp_nodelay,
                "allowed_hosts": frozenset(self.settings.allowed_hosts),
                "on_refused_host": self.receiver.host_refused,
                "on_refused_pending": self.receiver.association_rejected,
                "pending": PendingConnections(pending_limit(self.settings)),
                # The handshake is part of setting the association up (one ACSE deadline for both).
                "bounds": pdu_bounds(self.settings),
            },
        )
        if self.ssl_context is not None:
            # The listener's own context (resources.listener.tls): its sockets track PDU bounds.
            self.ssl_context.sslsocket_class = BoundedSSLSocket
        server = self._application_entity().make_server(
            (self.settings.bind_address, self.settings.port),
            ssl_context=self.ssl_context,
            evt_handlers=handlers,
            server_class=server_class,
        )
        assert isinstance(server, _ListenerServer)
        self._server = server
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="listener-accept", daemon=True).start()
        return self.port

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # -- events, mapped onto the receiver -----------------------------------------------------------
    @staticmethod
    def _peer(event: Event) -> str:
        requestor = event.assoc.requestor
        return f"{requestor.ae_title}@{requestor.address}:{requestor.port}"

    def _on_accepted(self, event: Event) -> None:
        with self._lock:
            self._per_association[id(event.assoc)] = 0
        self.receiver.association_accepted(self._peer(event))

    def _on_rejected(self, event: Event) -> None:
        self.receiver.association_rejected(
            self._peer(event), "calling AE title not allowed, wrong called AE title or too many associations"
        )

    def _finish(self, event: Event, how: str) -> None:
        with self._lock:
            count = self._per_association.pop(id(event.assoc), 0)
        self.receiver.association_finished(self._peer(event), how, count)

    def _on_acse_received(self, event: Event) -> None:
        # Triggered in the association's own thread as it takes the A-RELEASE-RQ, before pynetdicom
        # sends the A-RELEASE-RP: the release waits there until what was acknowledged is filed.
        primitive = getattr(event, "primitive", None)  # set for EVT_ACSE_RECV only
        if isinstance(primitive, A_RELEASE) and primitive.result is None:
            self.receiver.release_requested()

    def _on_released(self, event: Event) -> None:
        self._finish(event, "released")

    def _on_aborted(self, event: Event) -> None:
        self._finish(event, "aborted")

    def _on_connection_closed(self, event: Event) -> None:
        self.receiver.connection_closed()

    def _on_c_store(self, event: Event) -> int:
        request = cast(C_STORE, event.request)
        sop_instance_uid = str(request.AffectedSOPInstanceUID)
        sop_class_uid = str(request.AffectedSOPClassUID)
        calling_ae = event.assoc.requestor.ae_title
        encoded = event.encoded_dataset(include_meta=True)
        status = self.receiver.receive(encoded, sop_instance_uid, sop_class_uid, calling_ae)
        if status == StoreStatus.SUCCESS:
            with self._lock:
                key = id(event.assoc)
                self._per_association[key] = self._per_association.get(key, 0) + 1
        return status
