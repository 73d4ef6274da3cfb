"""Lineage carried by every warehouse row: which partition, run, code and profile produced it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

CODE_VERSION = "0.1.0"
# ``2026-11-09`` or, with several sources, ``2026-11-09|<source of up to 24 characters>``
# (resources/partition_keys.py); room to spare. Revision 0008 widened it from 10.
PARTITION_KEY_LENGTH = 64


@dataclass(frozen=True)
class Lineage:
    partition_key: str
    run_id: str
    code_version: str = CODE_VERSION
    deid_profile_version: str = ""
    processed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def columns(self) -> dict[str, object]:
        return {
            "partition_key": self.partition_key,
            "run_id": self.run_id,
            "code_version": self.code_version,
            "deid_profile_version": self.deid_profile_version,
            "processed_at": self.processed_at,
        }


class LineageColumns(SQLModel):
    """Mixin for warehouse tables (``class Study(LineageColumns, table=True)``)."""

    partition_key: str = Field(index=True, max_length=PARTITION_KEY_LENGTH)
    run_id: str = Field(max_length=64)
    code_version: str = Field(max_length=32)
    # Text: the version names every option and site choice in force, and none of it may be cut.
    deid_profile_version: str = Field(sa_type=sa.Text)
    processed_at: dt.datetime = Field(sa_type=sa.DateTime)  # naive UTC
