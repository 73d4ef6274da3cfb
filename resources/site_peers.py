"""The site file's network peers: the PACS and how we pull from it, the listener, and sources.

A *source* is one archive with what it forwards: a PACS (C-FIND / C-MOVE or C-GET) and optionally the
listener its auto-forwards arrive at, with its own retrieval limits. A site file lists them under
``sources:`` when there are several (partitions then become date x source, see
:mod:`resources.partition_keys`); with one PACS the top-level ``pacs:``, ``retrieval:`` and
``listener:`` sections are that one source, as before.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from resources.partition_keys import SOURCE_NAME

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5: 16 chars of default repertoire, no backslash


class Section(BaseModel):
    # Unknown keys are errors: a misspelt option must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


def check_ae_title(value: str) -> str:
    if not _AE_TITLE.match(value) or value.strip() == "":
        raise ValueError("an AE title is 1 to 16 printable characters, not blank, with no backslash")
    return value


class PacsSettings(Section):
    """The PACS we query, and how we identify ourselves to it."""

    host: str = "127.0.0.1"
    port: int = Field(default=11112, ge=1, le=65535)
    called_ae_title: str = "PACS"
    calling_ae_title: str = "DICOM_LAKE"
    # Our storage SCP, started for each retrieval; the PACS admin registers (calling_ae_title, our host,
    # storage_scp_port) as a C-MOVE destination.
    storage_scp_port: int = Field(default=11113, ge=0, le=65535)
    storage_scp_bind: str = "0.0.0.0"
    # "native": a lean receiver that stores the bytes as sent (fast); "pynetdicom": the library's server.
    storage_scp_engine: Literal["native", "pynetdicom"] = "native"
    # Our C-FIND/C-MOVE requests: "native" (a lean requestor, no polling threads) or "pynetdicom".
    scu_engine: Literal["native", "pynetdicom"] = "native"
    move_destination_ae_title: str | None = None  # defaults to calling_ae_title
    retrieve_method: Literal["move", "get"] = "move"
    tcp_nodelay: bool = True
    acse_timeout_s: float = Field(default=30, gt=0)
    dimse_timeout_s: float = Field(default=120, gt=0)
    network_timeout_s: float = Field(default=120, gt=0)
    max_pdu: int = Field(default=0, ge=0)  # 0 = unlimited

    @field_validator("called_ae_title", "calling_ae_title", "move_destination_ae_title")
    @classmethod
    def _ae_titles(cls, value: str | None) -> str | None:
        return None if value is None else check_ae_title(value)

    @property
    def destination_ae_title(self) -> str:
        return self.move_destination_ae_title or self.calling_ae_title


class TimeWindow(Section):
    """A daily window in local time, e.g. 20:00-06:00 (may cross midnight)."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class RetrievalSettings(Section):
    policy: Literal["metadata", "full"] = "metadata"
    max_moves_per_minute: float = Field(default=0, ge=0)  # 0 = no rate limit
    allowed_windows: list[TimeWindow] = Field(default_factory=list)  # empty = any time
    max_retries: int = Field(default=3, ge=0, le=20)
    retry_backoff_s: float = Field(default=2.0, ge=0)
    concurrent_moves: int = Field(default=1, ge=1, le=16)
    # Worker processes receiving the C-MOVE sub-operations (0: the retrieval's own process);
    # unset: one per concurrent move when there are several.
    receiving_processes: int | None = Field(default=None, ge=0, le=16)

    @field_validator("allowed_windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: Any) -> Any:
        # Accept the compact "20:00-06:00" form as well as {start:, end:}.
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, str):
                    if "-" not in item:
                        raise ValueError(f"time window {item!r} must look like 20:00-06:00")
                    start, end = item.split("-", 1)
                    out.append({"start": start.strip(), "end": end.strip()})
                else:
                    out.append(item)
            return out
        return value


class ListenerSettings(Section):
    ae_title: str = "DICOM_LAKE"

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return check_ae_title(value)

    bind_address: str = "0.0.0.0"
    port: int = Field(default=11114, ge=0, le=65535)
    allowed_calling_ae_titles: list[str] = Field(default_factory=list)  # empty = refuse everyone
    allowed_hosts: list[str] = Field(default_factory=list)  # empty = any host
    max_associations: int = Field(default=10, ge=1, le=200)
    # Connections still in their TLS handshake or A-ASSOCIATE-RQ, which max_associations does not see;
    # past this a new connection is refused at once. None: twice max_associations.
    max_pending_connections: int | None = Field(default=None, ge=1, le=1000)
    # The largest A-ASSOCIATE-RQ read; one declaring more is rejected unread. A request proposing 128
    # presentation contexts with eight transfer syntaxes each is about 40 KiB.
    max_associate_request_bytes: int = Field(default=65536, ge=4096, le=1 << 20)
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    tls_ca_certificate: Path | None = None
    quiet_period_s: float = Field(default=120, ge=0)
    health_port: int | None = Field(default=None, ge=0, le=65535)
    tcp_nodelay: bool = True
    # Association set-up and release (the TLS handshake included); a dataset under way; an idle association.
    acse_timeout_s: float = Field(default=30, gt=0)
    dimse_timeout_s: float = Field(default=120, gt=0)
    network_timeout_s: float = Field(default=120, gt=0)
    # "native": the listener's own lean C-STORE acceptor (fast path); "pynetdicom": pynetdicom's AE.
    engine: Literal["native", "pynetdicom"] = "native"
    # True: each received instance is journaled and the journal fdatasynced (one fdatasync shared by
    # the associations of a process) before the sender is answered, so it survives a power cut
    # (resources/listener/journal.py). False: still written atomically (temp file + rename) and
    # indexed before the answer, which survives the listener being killed, but not a power cut.
    fsync: bool = True


class SourceSettings(Section):
    """One archive of several: its name (the partitions' ``source`` key), PACS, limits and listener."""

    name: str
    pacs: PacsSettings = Field(default_factory=PacsSettings)
    # None: the site-wide ``retrieval:`` section (rate limit, windows, retries) applies to this source.
    retrieval: RetrievalSettings | None = None
    # None: this source forwards nothing; else the listener its forwards arrive at (own port).
    listener: ListenerSettings | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME.match(value):
            raise ValueError("a source name is 1 to 24 lower-case letters, digits, - or _")
        return value
