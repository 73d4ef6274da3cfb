"""De-identify a folder of files offline: research copies, a quarantine folder with reasons, a summary."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from resources.deid.engine import Deidentifier
from resources.deid.partition_run import FINDINGS_FILE, PartitionSummary, record


def deidentify_folder(engine: Deidentifier, source_dir: Path, output_dir: Path) -> dict[str, Any]:
    """Write ``output_dir/research/<study>/<series>/<sop>.dcm``, ``output_dir/quarantine/`` (file +
    ``.reason.txt``), ``output_dir/_phi_findings.jsonl`` and ``output_dir/summary.json``; return the summary.
    """
    started = time.perf_counter()
    summary = PartitionSummary("offline", engine.profile_version)
    research = output_dir / "research"
    quarantine = output_dir / "quarantine"
    research.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in Path(source_dir).rglob("*") if p.is_file() and not p.name.startswith("."))
    with (output_dir / FINDINGS_FILE).open("w", encoding="utf-8") as findings_out:
        for index, path in enumerate(files):
            result = engine.deidentify_file(path)
            record(summary, result)
            if result.outcome == "deidentified" and result.encoded is not None:
                target = research / result.study_uid / result.series_uid / f"{result.sop_instance_uid}.dcm"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result.encoded)
                for finding in result.findings:
                    findings_out.write(json.dumps(finding.as_dict()) + "\n")
            elif result.outcome == "quarantined":
                quarantine.mkdir(parents=True, exist_ok=True, mode=0o700)
                name = f"{index:06d}_{path.name}"
                shutil.copyfile(path, quarantine / name)
                (quarantine / f"{name}.reason.txt").write_text(result.reason + "\n", encoding="utf-8")
    summary.seconds = time.perf_counter() - started
    data = summary.as_dict()
    (output_dir / "summary.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data
