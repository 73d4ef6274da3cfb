"""PACS query/retrieve engine: C-FIND, case selection, C-MOVE/C-GET into the spool, throttling.

Plain Python (pynetdicom), usable without Dagster; :mod:`resources.pacs.resource` is the Dagster face.
"""
