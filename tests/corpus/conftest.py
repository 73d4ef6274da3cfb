"""A small generated corpus shared by the corpus tests (generated once per session)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus

SPEC = CorpusSpec(seed=7, n_studies=40, start_date=dt.date(2026, 11, 9), days=7, ct_images_per_series=12)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    out = tmp_path_factory.mktemp("corpus")
    return out, generate_corpus(out, SPEC)
