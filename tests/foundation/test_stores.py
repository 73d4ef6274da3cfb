"""Quarantine and research store: a kept copy with its reason, partitions swapped only on success."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore


def test_quarantine_keeps_a_copy_and_the_reason(tmp_path: Path) -> None:
    source = tmp_path / "in.dcm"
    source.write_bytes(b"broken")
    quarantine = QuarantineStore(tmp_path / "q")
    quarantine.put(
        stage="deid", partition_key="2026-11-09", name="in.dcm", reason="in.dcm: truncated", source=source
    )
    assert source.exists(), "quarantining never removes what was stored"
    (entry,) = quarantine.entries("deid")
    assert entry.reason == "in.dcm: truncated"
    assert entry.file.read_bytes() == b"broken"


def test_research_partition_is_replaced_only_when_the_run_succeeds(tmp_path: Path) -> None:
    research = ResearchStore(tmp_path / "research")
    with research.replacing_partition("2026-11-09") as writer:
        writer.path_for("2.25.1", "2.25.2", "2.25.3").write_bytes(b"v1")
    with pytest.raises(RuntimeError), research.replacing_partition("2026-11-09") as writer:
        writer.path_for("2.25.1", "2.25.2", "2.25.4").write_bytes(b"v2")
        raise RuntimeError("failed halfway")
    files = research.files("2026-11-09")
    assert [f.name for f in files] == ["2.25.3.dcm"]
    with research.replacing_partition("2026-11-09") as writer:
        writer.path_for("2.25.1", "2.25.2", "2.25.5").write_bytes(b"v3")
    assert [f.name for f in research.files("2026-11-09")] == ["2.25.5.dcm"]
    assert not [p for p in (tmp_path / "research").iterdir() if p.name.startswith(".")]
