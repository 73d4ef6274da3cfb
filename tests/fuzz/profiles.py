"""The hypothesis profiles of the fuzz tests (``ci``, ``release``): see ``tests/fuzz/conftest.py``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_PROFILE_VARIABLE = "DICOM_LAKE_FUZZ_PROFILE"
# How many times each test's own example count a profile runs.
_SCALE = {"ci": 1, "release": 50}
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
# deadline=None: a 2-core machine shared with other jobs makes the time per example vary widely, and
# the budget is held by the example counts; database=None: nothing is written into the tree.
settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, print_blob=True, suppress_health_check=_SUPPRESSED
)
settings.register_profile(
    "release",
    derandomize=False,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
PROFILE = os.environ.get(FUZZ_PROFILE_VARIABLE, "").strip() or "ci"
if PROFILE not in _SCALE:
    raise ValueError(f"{FUZZ_PROFILE_VARIABLE}={PROFILE!r}: expected one of {', '.join(sorted(_SCALE))}")
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """``count`` examples scaled by the active profile (``ci``: as given, ``release``: 50 times)."""
    return count * _SCALE[PROFILE]
