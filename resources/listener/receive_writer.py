"""How the listener files one received instance: journaled (``listener.fsync`` on) or only atomic.

With the journal (see :mod:`resources.listener.journal` for the invariants) the order is: append the
record to the journal (which wakes its syncer), write and rename the spool file while that fdatasync
runs, wait until the journal is durable past the record, commit the index row in the group commit;
only then may the sender be told Success. A file that cannot be written voids its journal record,
so that a replay does not store what the sender was told failed. Without the journal
(``listener.fsync`` off) the file is written and renamed and the row committed, nothing fsynced.
"""

from __future__ import annotations

import hashlib

from resources.listener.group_commit import GroupCommitter
from resources.listener.journal import Journal, journal_folder
from resources.listener.journal_recovery import RecoveryReport, recover
from resources.spool.instance_header import InstanceHeader
from resources.spool.records import SpoolRecord, utc_now
from resources.spool.store import SpoolStore

SOURCE = "listener"


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
            self.committer.journal = self.journal
        return report

    def close(self) -> None:
        """Wait for the queued commits, then checkpoint and delete the journal."""
        self.committer.close()
        if self.journal is not None:
            self.journal.close()

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
        if journal is None:
            record = self._write(encoded, planned)
            self.committer.commit(record)
            return record
        ticket = journal.append(planned, encoded)
        try:
            try:
                record = self._write(encoded, planned)
            except Exception:
                journal.void(ticket, planned)  # a replay must not store what the sender was told failed
                raise
            journal.wait_durable(ticket)
            self.committer.commit(record)
        finally:
            journal.settle(ticket)
        return record

    def _write(self, encoded: bytes, planned: SpoolRecord) -> SpoolRecord:
        return self.spool.write_file(
            encoded,
            sop_instance_uid=planned.sop_instance_uid,
            sop_class_uid=planned.sop_class_uid,
            study_uid=planned.study_uid,
            series_uid=planned.series_uid,
            partition_key=planned.partition_key,
            source=planned.source,
            calling_ae_title=planned.calling_ae_title,
            defer_sync=True,
            received_at=planned.received_at,
            sha256=planned.sha256 or None,  # hashed for the journal already
        )
