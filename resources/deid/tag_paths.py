"""How a tag path is written in findings, quarantine reasons and leak reports: ``0040A730[2].0040A160``."""

from __future__ import annotations


def tag_label(tag: int) -> str:
    return f"{tag:08X}"
