"""De-identify a folder of files offline: research copies and a summary in the output folder, the
identifiable quarantine copies (file + reason) in a folder of their own.

The output folder is what a user hands to a researcher, so it holds only de-identified data:
``research/<study>/<series>/<sop>.dcm``, ``_phi_findings.jsonl`` (no text) and ``summary.json``
(counts, no file names). Quarantined inputs are copies of identifiable source files; they go to
``<output>.quarantine-identifiable/`` beside the output folder unless another folder is given. Every
quarantined file and every SOP Instance UID collision is also announced through ``report`` (one line
each, file names and reasons, no values), which the command line prints on stderr.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resources.deid.collisions import CollisionKeeper
from resources.deid.engine import Deidentifier
from resources.deid.errors import DeidSettingsError
from resources.deid.partition_run import FINDINGS_FILE, PartitionSummary, record, record_superseded
from resources.deid.profile_application import Finding

logger = logging.getLogger(__name__)

QUARANTINE_SUFFIX = ".quarantine-identifiable"
SUMMARY_FILE = "summary.json"


def default_quarantine_dir(output_dir: Path) -> Path:
    """``<output>.quarantine-identifiable`` beside the output folder."""
    output = Path(output_dir).resolve()
    return output.with_name(output.name + QUARANTINE_SUFFIX)


def _check_quarantine_outside(output_dir: Path, quarantine_dir: Path) -> None:
    """Refuse a quarantine folder inside the output (identifiable copies would be handed out with it).

    Raises
    ------
    DeidSettingsError
        Naming both folders.
    """
    output, quarantine = Path(output_dir).resolve(), Path(quarantine_dir).resolve()
    if quarantine == output or quarantine.is_relative_to(output):
        raise DeidSettingsError(
            f"{quarantine}: the quarantine folder holds identifiable copies and may not be inside the "
            f"de-identified output {output}"
        )


def deidentify_folder(
    engine: Deidentifier,
    source_dir: Path,
    output_dir: Path,
    *,
    quarantine_dir: Path | None = None,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """De-identify every file under ``source_dir`` (path order); return the summary also written out.

    Two inputs with the same SOP Instance UID make one research copy (rule in ``collisions``).

    Raises
    ------
    DeidSettingsError
        If ``quarantine_dir`` is the output folder or inside it.
    """
    announce = report or logger.warning
    quarantine = Path(quarantine_dir) if quarantine_dir is not None else default_quarantine_dir(output_dir)
    _check_quarantine_outside(output_dir, quarantine)
    started = time.perf_counter()
    summary = PartitionSummary("offline", engine.profile_version)
    research = output_dir / "research"
    research.mkdir(parents=True, exist_ok=True)
    source = Path(source_dir)
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    keeper: CollisionKeeper[list[Finding]] = CollisionKeeper()
    quarantined = 0
    for index, path in enumerate(files):
        shown = str(path.relative_to(source))
        result = engine.deidentify_file(path)
        record(summary, result)
        if result.outcome == "deidentified" and result.encoded is not None:
            offer = keeper.offer(shown, result, result.findings)
            if offer.collision is not None and offer.dropped is not None:
                record_superseded(summary, offer.dropped)
                announce(f"collision: {offer.collision.message()}")
            if offer.write:
                target = research / result.study_uid / result.series_uid / f"{result.sop_instance_uid}.dcm"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result.encoded)
        elif result.outcome == "quarantined":
            quarantine.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"{index:06d}_{path.name}"
            shutil.copyfile(path, quarantine / name)
            (quarantine / f"{name}.reason.txt").write_text(result.reason + "\n", encoding="utf-8")
            quarantined += 1
            announce(f"quarantined: {shown}: {_without_name(result.reason, path.name)}")
    with (output_dir / FINDINGS_FILE).open("w", encoding="utf-8") as findings_out:
        for findings in keeper.payloads():
            for finding in findings:
                findings_out.write(json.dumps(finding.as_dict()) + "\n")
    summary.seconds = time.perf_counter() - started
    data = summary.as_dict()
    data["quarantine"] = {"folder": str(quarantine.resolve()), "files": quarantined}
    (output_dir / SUMMARY_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


def _without_name(reason: str, name: str) -> str:
    """A result's reasons each start with the file name; the announcement names the file once."""
    return reason.replace(f"{name}: ", "")
