"""Fuzzing the spool's header scanner (``resources/spool/instance_header.py``) with mutated real files.

pydicom's bundled test files (every transfer syntax family) and the openrem wheel's vendor files,
truncated, bit-flipped and with length fields set to 4 GB: the result is an
:class:`~resources.spool.instance_header.InstanceHeader` or an
:class:`~resources.spool.errors.UnreadableInstanceError` naming the SOP instance, never another
exception, and the scan's memory follows the file, not its declared lengths.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from resources.spool.errors import UnreadableInstanceError
from resources.spool.instance_header import InstanceHeader, read_instance_header
from tests.fuzz.conftest import PYDICOM_SEED_FILES, openrem_seed_files
from tests.fuzz.mutations import Recipe, SeedFiles, Step, apply, recipes
from tests.fuzz.profiles import examples

SOP_INSTANCE_UID = "1.2.826.0.1.3680043.10.1.16"
OPENREM_SEEDS = (
    "CT-RDSR-Siemens-Multi-1.dcm",
    "CT-ESR-GE_Optima.dcm",
    "DX-Im-DRGEM.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "NM-RRDSR-Siemens.dcm",
    "RF-RDSR-Philips_Allura.dcm",
)
SEED_NAMES = PYDICOM_SEED_FILES + OPENREM_SEEDS


@pytest.fixture(scope="module")
def seeds(pydicom_seed_files: SeedFiles, openrem_test_files: Path) -> SeedFiles:
    return SeedFiles({**pydicom_seed_files, **openrem_seed_files(openrem_test_files, OPENREM_SEEDS)})


def _header_or_reason(data: bytes) -> InstanceHeader | str:
    try:
        return read_instance_header(data, sop_instance_uid=SOP_INSTANCE_UID)
    except UnreadableInstanceError as exc:
        return str(exc)


def test_every_seed_file_has_a_header(seeds: SeedFiles) -> None:
    """The seeds themselves are read (else the mutations below would test only the error path)."""
    for name, data in seeds.items():
        assert isinstance(_header_or_reason(data), InstanceHeader), name


@settings(max_examples=examples(2000))
@given(recipe=recipes(SEED_NAMES))
# Found by this test: a file cut at the end of its meta group length, and one whose meta group length
# points past the end of the file, raised struct.error from the direct scan.
@example(recipe=Recipe("CT-ESR-GE_Optima.dcm", (Step("truncate", 144),)))
@example(recipe=Recipe("CT-ESR-GE_Optima.dcm", (Step("insert", 133, b"\x00"),)))
def test_a_mutated_file_gives_a_header_or_a_reason(seeds: SeedFiles, recipe: Recipe) -> None:
    outcome = _header_or_reason(apply(recipe, seeds))
    if isinstance(outcome, str):
        assert outcome.startswith(f"SOP instance {SOP_INSTANCE_UID}: "), outcome
        assert len(outcome) > len(f"SOP instance {SOP_INSTANCE_UID}: ")
    else:
        assert outcome.study_uid


@settings(max_examples=examples(200))
@given(recipe=recipes(SEED_NAMES, max_steps=2))
def test_huge_declared_lengths_do_not_cost_memory(seeds: SeedFiles, recipe: Recipe) -> None:
    data = apply(recipe, seeds)
    tracemalloc.start()
    try:
        _header_or_reason(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # pydicom's fallback may copy the file a few times; never the 4 GB a length field may claim.
    assert peak < 8 * len(data) + 8 * 1024 * 1024, f"peak {peak} bytes for {len(data)} bytes"
