"""What both listener engines build from the ``listener`` settings: association and acceptor settings."""

from __future__ import annotations

from resources.dicom_network.acceptor_settings import AcceptorSettings
from resources.dicom_network.association_settings import AssociationSettings
from resources.dicom_network.bounded_socket import PduBounds
from resources.dicom_network.upper_layer import OUR_MAX_PDU
from resources.listener.storage_contexts import StorageContexts
from resources.site_config import ListenerSettings

# "native": the lean acceptor of resources.dicom_network.acceptor (the fast path); "pynetdicom":
# pynetdicom's AE (resources.listener.pynetdicom_engine).
ENGINES = ("native", "pynetdicom")


def association_settings(settings: ListenerSettings) -> AssociationSettings:
    """Timeouts and TCP_NODELAY of the listener's associations; the PDU length both engines advertise."""
    return AssociationSettings(
        tcp_nodelay=settings.tcp_nodelay,
        acse_timeout_s=settings.acse_timeout_s,
        dimse_timeout_s=settings.dimse_timeout_s,
        network_timeout_s=settings.network_timeout_s,
        max_pdu=OUR_MAX_PDU,
    )


def pending_limit(settings: ListenerSettings) -> int:
    """How many connections may be setting up at once (``listener.max_pending_connections``)."""
    return settings.max_pending_connections or 2 * settings.max_associations


def pdu_bounds(settings: ListenerSettings) -> PduBounds:
    """What the pynetdicom engine's sockets bound: the native acceptor's limits and timeouts."""
    return PduBounds(
        max_associate_request=settings.max_associate_request_bytes,
        max_pdu=OUR_MAX_PDU,
        acse_timeout_s=settings.acse_timeout_s,
        network_timeout_s=settings.network_timeout_s,
    )


def acceptor_settings(settings: ListenerSettings, contexts: StorageContexts) -> AcceptorSettings:
    """The native acceptor's settings: our AE title, who may send, what is accepted, the timeouts."""
    return AcceptorSettings(
        ae_title=settings.ae_title.strip(),
        allowed_calling_ae_titles=frozenset(t.strip() for t in settings.allowed_calling_ae_titles),
        allowed_hosts=frozenset(settings.allowed_hosts),
        max_associations=settings.max_associations,
        sop_classes=frozenset(contexts.sop_class_uids),
        transfer_syntaxes=contexts.transfer_syntax_uids,
        association=association_settings(settings),
        max_pending_connections=pending_limit(settings),
        max_associate_request=settings.max_associate_request_bytes,
    )
