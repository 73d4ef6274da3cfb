"""Fixtures of the network room's tests: the synthetic archive the requestor moves studies from."""

from __future__ import annotations

import pytest

from tests.retrieval.conftest import Archive, build_archive


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """A small synthetic archive (the retrieval tests' one) for the demo PACS to serve."""
    return build_archive(tmp_path_factory.mktemp("archive"))
