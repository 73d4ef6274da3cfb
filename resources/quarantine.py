"""Quarantine: instances that failed parsing, de-identification or the leak check, with the reason.

The quarantine can hold identifiable files (an instance that failed de-identification is still the
source copy), so it is owner-only like the spool. Each quarantined file gets a JSON sidecar with the
stage, the reason and the time. Reasons name the file or a UID and say what was wrong; they never
quote a value from the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from resources.partition_folders import date_folders, rename_date_folders
from resources.partition_keys import folder_name, key_for
from resources.spool.durability import write_atomically


@dataclass(frozen=True)
class QuarantineEntry:
    stage: str
    partition_key: str
    file: Path
    reason: str
    quarantined_at: str


class QuarantineStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.root, 0o700)

    def folder(self, stage: str, partition_key: str) -> Path:
        return self.root / stage / folder_name(partition_key)

    def adopt_date_keys(self, source: str, *, dry_run: bool = False) -> int:
        """Rename each stage's date-only partition folders to ``source``'s, their sidecars too."""
        renamed = 0
        for stage in sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []:
            folders = date_folders(stage)
            renamed += rename_date_folders(stage, source, dry_run=dry_run)
            if dry_run:
                continue
            for folder in folders:
                moved = stage / folder_name(key_for(folder.name, source))
                for sidecar in moved.glob("*.reason.json"):
                    info = json.loads(sidecar.read_text(encoding="utf-8"))
                    info["partition_key"] = key_for(folder.name, source)
                    write_atomically(sidecar, json.dumps(info, indent=2).encode())
        return renamed

    def put(
        self,
        *,
        stage: str,
        partition_key: str,
        name: str,
        reason: str,
        source: Path | None = None,
        data: bytes | None = None,
    ) -> QuarantineEntry:
        """Keep a copy of ``source`` (or ``data``) under ``quarantine/<stage>/<partition>/<name>``.

        The source file itself is left where it is: nothing already stored is lost.
        """
        folder = self.folder(stage, partition_key)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / name
        if data is not None:
            write_atomically(target, data)
        elif source is not None and source.exists():
            tmp = target.with_name(f".{target.name}.part")
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        entry = QuarantineEntry(
            stage=stage,
            partition_key=partition_key,
            file=target,
            reason=reason,
            quarantined_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        sidecar = {
            "stage": stage,
            "partition_key": partition_key,
            "reason": reason,
            "at": entry.quarantined_at,
        }
        write_atomically(
            target.with_name(target.name + ".reason.json"), json.dumps(sidecar, indent=2).encode()
        )
        return entry

    def entries(self, stage: str | None = None, partition_key: str | None = None) -> list[QuarantineEntry]:
        pattern = f"{stage or '*'}/{folder_name(partition_key) if partition_key else '*'}/*.reason.json"
        out = []
        for sidecar in sorted(self.root.glob(pattern)):
            info = json.loads(sidecar.read_text())
            out.append(
                QuarantineEntry(
                    stage=info["stage"],
                    partition_key=info["partition_key"],
                    file=sidecar.with_name(sidecar.name.removesuffix(".reason.json")),
                    reason=info["reason"],
                    quarantined_at=info["at"],
                )
            )
        return out

    def clear(self, stage: str, partition_key: str) -> None:
        """Forget a partition's entries for a stage (used when the stage reruns that partition)."""
        shutil.rmtree(self.folder(stage, partition_key), ignore_errors=True)
