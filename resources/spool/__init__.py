"""The spool: identifiable landing zone for received instances, with its index."""

from resources.spool.durability import write_atomically
from resources.spool.errors import SpoolError, SpoolWriteError
from resources.spool.layout import partition_key_from_dicom_date
from resources.spool.records import SpoolRecord, utc_now
from resources.spool.store import SpoolStore

__all__ = [
    "SpoolError",
    "SpoolRecord",
    "SpoolStore",
    "SpoolWriteError",
    "partition_key_from_dicom_date",
    "utc_now",
    "write_atomically",
]
