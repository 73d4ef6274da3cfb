"""What the acceptor is told and whom it calls: its settings and the receiver protocol.

Kept apart from :mod:`resources.dicom_network.acceptor` so that the listener's and the retrieval's
wiring can build settings and receivers without importing the socket server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from resources.dicom_network.admission import MAX_ASSOCIATE_REQUEST
from resources.dicom_network.association_settings import AssociationSettings


class Receiver(Protocol):
    """What the acceptor calls: the listener's receive path and its association log lines."""

    def receive(self, encoded: bytes, sop_instance_uid: str, sop_class_uid: str, calling_ae: str) -> int: ...

    def release_requested(self) -> None:
        """The peer asked to release (A-RELEASE-RQ): return once the A-RELEASE-RP may be sent."""
        ...

    def association_accepted(self, peer: str) -> None: ...

    def association_rejected(self, peer: str, reason: str) -> None: ...

    def association_finished(self, peer: str, how: str, instances: int) -> None: ...

    def host_refused(self, host: str) -> None: ...


@dataclass(frozen=True)
class AcceptorSettings:
    """Who may associate, what is accepted, and the association settings (timeouts, TCP_NODELAY)."""

    ae_title: str
    allowed_calling_ae_titles: frozenset[str]
    allowed_hosts: frozenset[str]
    max_associations: int
    sop_classes: frozenset[str]
    transfer_syntaxes: tuple[str, ...]
    association: AssociationSettings = field(default_factory=AssociationSettings)
    # A C-MOVE destination serves whichever AE title the PACS calls with (pynetdicom's defaults).
    check_calling_ae_title: bool = True
    check_called_ae_title: bool = True
    # Connections still in TLS handshake or A-ASSOCIATE-RQ (0: twice max_associations), and the
    # largest request read (why 64 KiB: resources.dicom_network.admission).
    max_pending_connections: int = 0
    max_associate_request: int = MAX_ASSOCIATE_REQUEST

    @property
    def pending_limit(self) -> int:
        return self.max_pending_connections or 2 * self.max_associations
