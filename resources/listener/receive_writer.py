"""How the listener files one received instance: journaled (``listener.fsync`` on) or only atomic.

With the journal (see :mod:`resources.listener.journal` for the invariants) the order is: append the
record to the journal, wait until a group's fdatasync (perhaps led by this thread) covers it,
queue it for the splitter (:mod:`resources.listener.journal_split`), which writes the spool file and
commits the index row behind; the sender may be told Success once the record is durable. A record
the sender is told failed is voided, so that a replay does not store it. At an A-RELEASE the
association waits until the splitter has written everything it sent (:meth:`ReceiveWriter.release`).
Without the journal (``listener.fsync`` off) the file is written and renamed and the row committed
in the receiving thread, before the answer, nothing fsynced.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib

from resources.listener.group_commit import GroupCommitter
from resources.listener.journal import Journal, journal_folder
from resources.listener.journal_recovery import RecoveryReport, recover
from resources.listener.journal_split import (
    MAX_BACKLOG_BYTES,
    JournalSplitter,
    SplitStats,
    write_planned,
)
from resources.spool.instance_header import InstanceHeader
from resources.spool.records import SpoolRecord, utc_now
from resources.spool.store import SpoolStore

log = logging.getLogger(__name__)

SOURCE = "listener"
# How long an A-RELEASE waits for the splitter (then it is answered anyway: what was acknowledged is
# durable in the journal, and written as soon as the disk allows).
RELEASE_WAIT_S = 20.0
# Splitting threads per process. One: its batches are the largest (one index transaction for many
# rows), and a second thread measured no faster on 2 cores (its GIL hand-overs cost what parallel
# file creates gain). More than one keeps a SOP Instance UID's copies in one thread, in order.
SPLIT_THREADS = 1


class ReceiveWriter:
    """The spool side of the listener's receive path: journal, files, group commit of the index.

    Parameters
    ----------
    spool
        Where received instances go; its ``fsync`` flag says whether a journal is kept.
    """

    def __init__(self, spool: SpoolStore) -> None:
        self.spool = spool
        self.committer = GroupCommitter(spool)
        self.journal: Journal | None = None
        self.splitters: list[JournalSplitter] = []

    def open(self) -> RecoveryReport:
        """Replay what dead listener processes left journaled, then open this process's journal.

        Raises
        ------
        SpoolWriteError
            If the journal cannot be created (the listener must not serve without it).
        """
        folder = journal_folder(self.spool.root)
        report = recover(self.spool, folder)
        if self.spool.fsync and self.journal is None:
            self.journal = Journal(folder, self.spool.make_durable)
            share = MAX_BACKLOG_BYTES // SPLIT_THREADS
            self.splitters = [
                JournalSplitter(self.spool, self.journal, max_backlog_bytes=share)
                for _ in range(SPLIT_THREADS)
            ]
        return report

    def close(self) -> None:
        """Write what is queued, then checkpoint and delete the journal (kept if anything is left)."""
        drained = all([splitter.close() for splitter in self.splitters])
        self.committer.close()
        if self.journal is not None:
            self.journal.close(wait_s=30.0 if drained else 1.0)

    def split_state(self) -> tuple[int, str | None, list[SplitStats]]:
        """Instances acknowledged and not yet in the spool, the write error holding them up (if any),
        and each splitter's counters."""
        backlog = sum(splitter.backlog() for splitter in self.splitters)
        errors = [splitter.last_error for splitter in self.splitters if splitter.last_error]
        return backlog, (errors[0] if errors else None), [splitter.stats for splitter in self.splitters]

    def release(self) -> None:
        """At an A-RELEASE: wait until everything this association thread stored is in the spool."""
        deadline = time.monotonic() + RELEASE_WAIT_S
        for splitter in self.splitters:
            if not splitter.wait_split(max(0.0, deadline - time.monotonic())):
                log.warning(
                    "A-RELEASE answered before the spool caught up (%s): the instances are in the journal",
                    splitter.last_error or f"more than {RELEASE_WAIT_S:.0f} s behind",
                )
                return

    def store(
        self,
        encoded: bytes,
        sop_instance_uid: str,
        sop_class_uid: str,
        calling_ae: str,
        header: InstanceHeader,
    ) -> SpoolRecord:
        """File one instance whose header gave a partition; returns once Success may be answered.

        Raises
        ------
        SpoolWriteError
            If the journal, the file or the index failed (the sender is told 0xA700).
        """
        assert header.partition_key is not None
        planned = SpoolRecord(
            sop_instance_uid=sop_instance_uid,
            partition_key=header.partition_key,
            study_uid=header.study_uid,
            series_uid=header.series_uid,
            sop_class_uid=sop_class_uid,
            path=self.spool.path_for(header.partition_key, header.study_uid, sop_instance_uid),
            sha256=hashlib.sha256(encoded).hexdigest() if self.journal is not None else "",
            size_bytes=len(encoded),
            source=SOURCE,
            received_at=utc_now(),
            calling_ae_title=calling_ae,
        )
        journal = self.journal
        if journal is None or not self.splitters:
            record = write_planned(self.spool, encoded, planned)
            self.committer.commit(record)
            return record
        ticket = journal.append(planned, encoded)
        try:
            journal.wait_durable(ticket)
            # One splitter per SOP Instance UID: a re-send is written after the copy it replaces.
            splitter = self.splitters[zlib.crc32(sop_instance_uid.encode()) % len(self.splitters)]
            splitter.put(planned, encoded, ticket)  # settles the ticket once written and indexed
        except Exception:
            journal.void(ticket, planned)  # a replay must not store what the sender was told failed
            journal.settle(ticket)
            raise
        return planned
