"""Fuzzing the CT dose SR reader (``resources/dose/rdsr``) with mutated real vendor RDSRs.

The openrem wheel's CT dose reports (Siemens, GE, Philips, Toshiba, Spectrum Dynamics: RDSR and GE
Enhanced SR) and a few other dose reports and images, truncated, bit-flipped and with length fields
set to 4 GB, through the file-level entry point the ``rdsr`` command uses
(:func:`~resources.dose.rdsr.ct_radiation_dose.read_ct_radiation_dose`): the result is a
:class:`~resources.dose.rdsr.ct_radiation_dose.CTRadiationDose` (possibly flagged) or a
:class:`~resources.dose.errors.DoseError` naming the file, never another exception.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from resources.dose.drl import DrlMapping
from resources.dose.errors import DoseError
from resources.dose.exam_context import ExamContext, default_exam_context
from resources.dose.partition_events import analyse_files
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose, read_ct_radiation_dose
from tests.fuzz.conftest import openrem_seed_files
from tests.fuzz.mutations import Recipe, SeedFiles, Step, apply, recipes
from tests.fuzz.profiles import examples

CT_DOSE_REPORTS = (
    "CT-ESR-GE_Optima.dcm",
    "CT-RDSR-GEPixelMed.dcm",
    "CT-RDSR-Philips_BigBore4DCT.dcm",
    "CT-RDSR-Siemens-Multi-1.dcm",
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm",
    "CT-RDSR-SpectrumDynamics.dcm",
    "CT-RDSR-ToshibaPixelMed.dcm",
    "CT-RDSR-Toshiba_DoseCheck.dcm",
    "CT-RDSR-Toshiba_MultiValSD.dcm",
)
OTHER_FILES = ("MG-RDSR-Hologic_2D.dcm", "NM-RRDSR-Siemens.dcm", "ESR_non-dose.dcm", "DX-Im-DRGEM.dcm")


@pytest.fixture(scope="module")
def seeds(openrem_test_files: Path) -> SeedFiles:
    return openrem_seed_files(openrem_test_files, CT_DOSE_REPORTS + OTHER_FILES)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One file rewritten by every example (hypothesis runs many examples per test function)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-rdsr-") as folder:
        yield Path(folder) / "mutated-report.dcm"


def _read(path: Path, data: bytes) -> CTRadiationDose | DoseError:
    path.write_bytes(data)
    try:
        return read_ct_radiation_dose(path)
    except DoseError as exc:
        return exc


def test_every_ct_seed_is_read(seeds: SeedFiles, scratch: Path) -> None:
    """The CT seeds are read as CT dose reports (else the fuzzing would test only the error path)."""
    for name in CT_DOSE_REPORTS:
        assert isinstance(_read(scratch, seeds[name]), CTRadiationDose), name


@settings(max_examples=examples(2000))
@given(recipe=recipes(CT_DOSE_REPORTS + OTHER_FILES))
# Found by this test: pydicom's errors for damaged bytes escaped the reader, at dcmread (a meta group
# length of 4 GB: BytesLengthException; a flipped VR: NotImplementedError; a cut value: struct.error)
# or when the content tree was first read (a cut sequence: OSError; an inserted byte: an unknown VR).
# A sequence whose VR was damaged was iterated as text (AttributeError).
@example(recipe=Recipe("CT-ESR-GE_Optima.dcm", (Step("length", 0, 0xFFFFFFFF),)))
@example(recipe=Recipe("MG-RDSR-Hologic_2D.dcm", (Step("delete", 4454, 56),)))
# dcmread raised TypeError for a Specific Character Set whose VR a flipped bit had made numeric.
@example(recipe=Recipe("CT-RDSR-Siemens_Flash-TAP-SS.dcm", (Step("delete", 104455, 8), Step("flip", 380, 4))))
@example(recipe=Recipe("CT-RDSR-Toshiba_DoseCheck.dcm", (Step("flip", 137, 0),)))
@example(recipe=Recipe("ESR_non-dose.dcm", (Step("truncate", 1836),)))
@example(recipe=Recipe("CT-ESR-GE_Optima.dcm", (Step("truncate", 7559),)))
@example(recipe=Recipe("CT-RDSR-Toshiba_MultiValSD.dcm", (Step("insert", 2549119, b"\x00"),)))
@example(
    recipe=Recipe(
        "CT-RDSR-SpectrumDynamics.dcm",
        (
            Step("insert", 3570, b"\tlq\xa6"),
            Step("length", 1156990, 0x7FFFFFFF),
            Step("overwrite", 278, b"~o0\x94\xe9\x0cI\xf6"),
            Step("length", 159066, 0x8000),
        ),
    )
)
def test_a_mutated_report_is_read_or_refused_with_a_dose_error(
    seeds: SeedFiles, scratch: Path, recipe: Recipe
) -> None:
    outcome = _read(scratch, apply(recipe, seeds))
    if isinstance(outcome, DoseError):
        assert str(scratch) in str(outcome), str(outcome)
    else:
        assert outcome.source == str(scratch)
        assert all(event.dlp_mgycm is None or event.dlp_mgycm == event.dlp_mgycm for event in outcome.events)


@pytest.fixture(scope="module")
def exam_context() -> ExamContext:
    return default_exam_context()


@settings(max_examples=examples(600))
@given(recipe=recipes(CT_DOSE_REPORTS + OTHER_FILES))
def test_a_partition_with_a_mutated_file_is_analysed_and_lists_it_if_unreadable(
    seeds: SeedFiles, scratch: Path, exam_context: ExamContext, recipe: Recipe
) -> None:
    """The dose asset's reader (headers peeked, then images or reports) lists a bad file, never dies."""
    scratch.write_bytes(apply(recipe, seeds))
    analysis = analyse_files([scratch], exam_context, DrlMapping.load())
    assert analysis.files_read == 1
    for name, reason in analysis.unreadable:
        assert (name, bool(reason)) == (scratch.name, True)
