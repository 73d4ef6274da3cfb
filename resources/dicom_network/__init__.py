"""The DICOM network room shared by the retrieval and the listener.

Upper layer (PDU framing), the acceptor (our storage SCP), the requestor (our C-FIND/C-MOVE SCU),
association settings (TCP_NODELAY, timeouts, PDU size) and the named DIMSE status tables.
"""
