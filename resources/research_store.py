"""The research store: de-identified DICOM files, one folder per daily partition.

Layout: ``research/<partition_key>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``
with the research-zone (pseudonymised) UIDs. The partition key is the *source* study date (the
partition the instance was retrieved for), not the shifted date written inside the file.

A partition is replaced as a whole: a run writes into a staging folder and swaps it in only when it
has finished, so a run that fails halfway leaves the previous partition intact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from resources.partition_folders import rename_date_folders
from resources.partition_keys import folder_name


class ResearchStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def partition_folder(self, partition_key: str) -> Path:
        return self.root / folder_name(partition_key)

    def adopt_date_keys(self, source: str, *, dry_run: bool = False) -> int:
        """Rename the date-only partition folders to ``source``'s; the count (``dry_run``: that would be)."""
        return rename_date_folders(self.root, source, dry_run=dry_run)

    def files(self, partition_key: str) -> list[Path]:
        """The partition's de-identified files in a stable order."""
        folder = self.partition_folder(partition_key)
        if not folder.is_dir():
            return []
        return sorted(folder.rglob("*.dcm"))

    def iter_files(self, partition_key: str) -> Iterator[Path]:
        folder = self.partition_folder(partition_key)
        if folder.is_dir():
            yield from sorted(folder.rglob("*.dcm"))

    @contextlib.contextmanager
    def replacing_partition(self, partition_key: str) -> Iterator[PartitionWriter]:
        """Write a partition's new content; it replaces the old content only if the block succeeds."""
        staging = self.root / f".staging-{folder_name(partition_key)}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        writer = PartitionWriter(staging)
        try:
            yield writer
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        target = self.partition_folder(partition_key)
        old = self.root / f".old-{folder_name(partition_key)}-{uuid.uuid4().hex[:8]}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)


class PartitionWriter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, study_uid: str, series_uid: str, sop_instance_uid: str) -> Path:
        path = self.folder / study_uid / series_uid / f"{sop_instance_uid}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
