"""Fuzzing as a test: hypothesis profiles and the real files the mutations start from.

Every test in this folder is property-based (hypothesis) and seeded: ``derandomize=True`` draws the
same examples on every run, so a failure in CI is a failure on a developer machine too, and nothing is
written to a ``.hypothesis`` example database in the tree (``database=None``).

Two profiles, chosen with the environment variable ``DICOM_LAKE_FUZZ_PROFILE``:

``ci`` (the default)
    100 to 2,000 examples per test (``max_examples`` of each test times ``ci`` = 1); the whole
    folder runs in well under 90 s on a 2-core machine. Run it with::

        CI=true .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz

``release``
    Before a release: ``max_examples`` times 50 and a fresh random seed on every run (not
    derandomized), so each run explores new inputs; about half an hour on the same machine::

        DICOM_LAKE_FUZZ_PROFILE=release .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz

    A failure prints the falsifying example and a ``@reproduce_failure`` line; keep the input as an
    ``@example(...)`` of the test when the cause is fixed, so it is run on every later build.

Tests set their own ``max_examples`` through :func:`tests.fuzz.profiles.examples`, which scales it by
the profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from tests.fuzz import profiles  # noqa: F401  (registers and loads the hypothesis profile)
from tests.fuzz.mutations import SeedFiles


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pydicom warns (and quotes values) for every damaged file: expected here, not worth a summary."""
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.filterwarnings("ignore::UserWarning"))


# pydicom's own test files: little and big endian, implicit and explicit VR, deflated, an SR, an RT plan.
PYDICOM_SEED_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "ExplVR_BigEnd.dcm",
    "image_dfl.dcm",
    "rtplan.dcm",
    "test-SR.dcm",
)


@pytest.fixture(scope="session")
def pydicom_seed_files() -> SeedFiles:
    """The bytes of pydicom's bundled test files (never downloaded: those in the wheel only)."""
    seeds = SeedFiles()
    for name in PYDICOM_SEED_FILES:
        path = get_testdata_file(name, download=False)
        if path is None:
            pytest.skip(f"pydicom's test file {name} is not bundled with the installed pydicom")
        seeds[name] = Path(str(path)).read_bytes()
    return seeds


def openrem_seed_files(folder: Path, names: tuple[str, ...]) -> SeedFiles:
    """The bytes of the named openrem vendor files (the ``openrem_test_files`` fixture's folder)."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        pytest.skip(f"openrem test files missing from {folder}: {', '.join(missing)}")
    return SeedFiles({name: (folder / name).read_bytes() for name in names})
