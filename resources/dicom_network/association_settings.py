"""Association settings shared by every association we open or accept: timeouts, PDU size, TCP_NODELAY.

The PACS side builds them from ``pacs`` (``NetworkOptions.from_settings`` in
:mod:`resources.dicom_network.association`), the listener from ``listener``
(:func:`resources.listener.engine_settings.association_settings`).
This module imports neither pydicom nor pynetdicom: a receiving process builds them too, and starts in
a fraction of the time without those.

Why TCP_NODELAY: over loopback (and on many LANs) a DICOM exchange stalls about 40 ms per message when
one side writes a message in two pieces and the other delays its ACK (Nagle's algorithm meeting delayed
ACKs), which caps a sender at about 25 instances/s. pynetdicom sets no socket option beyond
SO_REUSEADDR, so every socket of ours goes through :func:`set_tcp_nodelay`, whichever engine serves it.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class AssociationSettings:
    """Timeouts and socket options for an association, as both ends of our network paths apply them.

    ``acse_timeout_s`` bounds association set-up and release, ``dimse_timeout_s`` the wait for a DIMSE
    message once one is under way (a response, or the rest of a dataset), ``network_timeout_s`` an idle
    association; ``max_pdu`` is the largest PDU we accept (0: unlimited).
    """

    tcp_nodelay: bool = True
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 120.0
    network_timeout_s: float = 120.0
    connection_timeout_s: float = 10.0
    max_pdu: int = 0


def set_tcp_nodelay(sock: socket.socket) -> None:
    """Turn off Nagle's algorithm on a connected socket; never fatal (a socket without TCP options)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
