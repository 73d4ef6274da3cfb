"""The listener journal's record format: what one received instance looks like in a segment.

A record is ``magic | body length | CRC-32 of the body | body`` (little endian), the body being the
length of the metadata, the metadata (a JSON list of :data:`META_FIELDS`) and the encoded instance as
received. A reader stops at the first record whose magic, length or CRC-32 is wrong: the torn tail a
crash mid-append leaves (see :mod:`resources.listener.journal`, invariant 3).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from resources.spool.records import SpoolRecord

JOURNAL_FOLDER = ".journal"
SUFFIX = ".journal"
MAGIC = b"DLJ1"
HEAD = struct.Struct("<4sII")  # magic, body length, CRC-32 of the body
META_LENGTH = struct.Struct("<I")
# The record fields kept in the journal, in this order (a JSON list: smaller than an object).
META_FIELDS = (
    "sop_instance_uid",
    "partition_key",
    "study_uid",
    "series_uid",
    "sop_class_uid",
    "sha256",
    "size_bytes",
    "source",
    "received_at",
    "calling_ae_title",
)

VOID = -1  # size_bytes of a record that cancels the same receipt journaled before it


@dataclass(frozen=True)
class JournalEntry:
    """One complete record read back from a segment: the spool record and the encoded bytes."""

    record: SpoolRecord
    data: bytes


def write_at(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` at ``offset`` of ``fd`` whole, however short the kernel's writes (raises OSError)."""
    views = [memoryview(chunk) for chunk in chunks]
    while views:
        written = os.pwritev(fd, views, offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def encode_record(record: SpoolRecord, data: bytes) -> list[bytes]:
    """The chunks of one journal record (header, metadata, data) for ``record`` and its bytes."""
    meta = json.dumps([getattr(record, name) for name in META_FIELDS], separators=(",", ":")).encode()
    prefix = META_LENGTH.pack(len(meta)) + meta
    crc = zlib.crc32(data, zlib.crc32(prefix))
    return [HEAD.pack(MAGIC, len(prefix) + len(data), crc) + prefix, data]


def read_segment(path: Path) -> tuple[list[JournalEntry], int | None]:
    """The complete records of one segment, and the byte offset of a torn tail (None when clean).

    Raises
    ------
    OSError
        If the segment cannot be read.
    """
    blob = path.read_bytes()
    entries: list[JournalEntry] = []
    offset = 0
    while offset < len(blob):
        if offset + HEAD.size > len(blob):
            return entries, offset
        magic, length, crc = HEAD.unpack_from(blob, offset)
        body_start, body_end = offset + HEAD.size, offset + HEAD.size + length
        if magic != MAGIC or body_end > len(blob) or length < META_LENGTH.size:
            return entries, offset
        body = memoryview(blob)[body_start:body_end]
        if zlib.crc32(body) != crc:
            return entries, offset
        (meta_length,) = META_LENGTH.unpack_from(body, 0)
        meta_end = META_LENGTH.size + meta_length
        try:
            values = json.loads(bytes(body[META_LENGTH.size : meta_end]))
            fields = dict(zip(META_FIELDS, values, strict=True))
        except ValueError:
            return entries, offset
        record = SpoolRecord(path=Path(), **fields)
        entries.append(JournalEntry(record=record, data=bytes(body[meta_end:])))
        offset = body_end
    return entries, None
