"""The DICOM network room shared by the retrieval and the listener.

Upper layer (PDU framing, ``upper_layer``), association negotiation (``negotiation``), the acceptor
(our storage SCP, ``acceptor``), the requestor (our C-FIND/C-MOVE SCU, ``requestor``), association
settings (timeouts, PDU size, TCP_NODELAY: ``association_settings``; pynetdicom's side: ``association``),
the Part 10 header of received instances (``file_meta``), the named DIMSE status tables (``status``) and
the room's errors (``errors``). It imports nothing from the engines that use it.
"""
