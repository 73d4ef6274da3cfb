"""What both listener engines build from the ``listener`` settings: association and acceptor settings."""

from __future__ import annotations

from resources.dicom_network.acceptor import AcceptorSettings
from resources.dicom_network.association_settings import AssociationSettings
from resources.listener.storage_contexts import StorageContexts
from resources.site_config import ListenerSettings

# "native": the lean acceptor of resources.dicom_network.acceptor (the fast path); "pynetdicom":
# pynetdicom's AE (resources.listener.pynetdicom_engine).
ENGINES = ("native", "pynetdicom")


def association_settings(settings: ListenerSettings) -> AssociationSettings:
    """Timeouts and TCP_NODELAY of the listener's associations (PDU size: unlimited, as before)."""
    return AssociationSettings(
        tcp_nodelay=settings.tcp_nodelay,
        acse_timeout_s=settings.acse_timeout_s,
        dimse_timeout_s=settings.dimse_timeout_s,
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
    )
