"""The de-identification stage's PHI-finding audit (``_phi_findings.jsonl``) read into warehouse rows.

The file sits in each research partition folder; each line names where an identifier was found and
what was done with it, never the found text itself, so the rows carry no patient data either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PHI_FINDINGS_FILE = "_phi_findings.jsonl"


def read_phi_findings(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of the de-identification stage's ``_phi_findings.jsonl`` (never the found text itself).

    Lines that are not JSON objects with a SOP Instance UID are skipped with a warning naming the line.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d: not JSON, skipped", path.name, number)
                continue
            if not isinstance(item, dict) or not item.get("sop_instance_uid"):
                logger.warning("%s line %d: no sop_instance_uid, skipped", path.name, number)
                continue
            score = item.get("score")
            yield {
                "sop_instance_uid": str(item["sop_instance_uid"])[:64],
                "tag_path": str(item.get("tag_path", ""))[:255],
                "entity_type": str(item.get("entity_type", ""))[:64],
                "score": float(score) if isinstance(score, int | float) else None,
                "action": str(item.get("action", ""))[:32],
            }
