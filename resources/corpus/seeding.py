"""Deterministic randomness and UIDs derived from the corpus seed.

Everything the generator invents comes from a SHA-256 of the seed and a label path, so one study can be
generated without generating the others (streaming, constant memory) and the same spec always gives the
same bytes.
"""

from __future__ import annotations

import hashlib
import random


def stable_int(seed: int, *labels: object) -> int:
    """A 256-bit integer that depends only on ``seed`` and ``labels``."""
    text = "|".join([str(seed), *(str(label) for label in labels)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def rng_for(seed: int, *labels: object) -> random.Random:
    """A private random generator for one labelled thing (a patient, a study, ...)."""
    return random.Random(stable_int(seed, *labels))


def derive_uid(seed: int, *labels: object) -> str:
    """A UID under the ``2.25`` root (UUID-derived form, PS3.5 B.2) from a 128-bit hash of the labels."""
    return "2.25." + str(stable_int(seed, "uid", *labels) >> 128)


def spread_flag(index: int, fraction: float, phase: float) -> bool:
    """Whether item ``index`` is one of an evenly spread ``fraction`` of items.

    Used instead of a coin toss so that small corpora still hold the promised share (children, studies
    without a dose report, mammograms): over any run of n items, round(n * fraction) +- 1 are flagged.
    """
    if fraction <= 0.0:
        return False
    if fraction >= 1.0:
        return True
    return int((index + 1) * fraction + phase) > int(index * fraction + phase)
