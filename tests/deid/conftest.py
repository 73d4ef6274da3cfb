"""Fixtures for the de-identification tests: one engine per session (the PHI scanner is costly)."""

from __future__ import annotations

import pytest

from resources.deid.engine import Deidentifier
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import PhiScanner

SECRET = b"test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def scanner() -> PhiScanner:
    return PhiScanner()


@pytest.fixture(scope="session")
def engine(scanner: PhiScanner) -> Deidentifier:
    return Deidentifier(DeidOptions(), SECRET, scanner=scanner)


@pytest.fixture(scope="session")
def make_engine(scanner: PhiScanner):  # type: ignore[no-untyped-def]
    def build(**kwargs: object) -> Deidentifier:
        extra = {k: kwargs.pop(k) for k in list(kwargs) if k in {"opt_out_ids", "recipient_key", "vault"}}
        return Deidentifier(DeidOptions(**kwargs), SECRET, scanner=scanner, **extra)  # type: ignore[arg-type]

    return build
