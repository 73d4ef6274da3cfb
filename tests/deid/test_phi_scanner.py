"""The free-text scanner: no network, deny-list variants, generic recognizers, per-string cache."""

from __future__ import annotations

import socket

import pytest

from resources.deid.deny_list import Identifiers, birth_date_variants, deny_list_for, name_variants
from resources.deid.phi_scanner import PhiScanner


def test_building_and_scanning_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or [])
    scanner = PhiScanner()
    result = scanner.scrub("mail j.doe@example.org, see https://example.org/x from 10.1.2.3", None)
    assert {s.entity_type for s in result.spans} >= {"EMAIL_ADDRESS", "URL", "IP_ADDRESS"}
    assert attempts == []


def test_deny_list_finds_name_variants_ids_and_birth_date_formats(scanner: PhiScanner) -> None:
    ids = Identifiers(
        names=frozenset({"Rigby^Eleanor^Mary"}),
        ids=frozenset({"MRN4455667"}),
        birth_dates=frozenset({"19540312"}),
        phones=frozenset({"0151 496 0123"}),
    )
    deny = deny_list_for(ids)
    text = "ELEANOR RIGBY, E. Rigby, rigby e, mrn4455667, born 12/03/1954 or 1954-03-12, tel 0151-496-0123"
    result = scanner.scrub(text, deny)
    for leaked in ("eleanor", "rigby", "4455667", "1954", "496"):
        assert leaked not in result.text.lower(), leaked
    assert "E. Rigby" in name_variants("Rigby^Eleanor") and "12 March 1954" in birth_date_variants("19540312")


def test_generic_results_are_cached_per_distinct_string(scanner: PhiScanner) -> None:
    scanner.generic.cache_clear()
    for _ in range(50):
        scanner.scrub("CT CHEST WITH CONTRAST seen 2021-03-04", None)
    info = scanner.generic.cache_info()
    assert info.misses == 1 and info.hits == 49


def test_nhs_number_needs_a_valid_checksum(scanner: PhiScanner) -> None:
    assert "[UK_NHS]" in scanner.scrub("NHS 943 476 5919", None).text
    assert "943 476 5918" in scanner.scrub("ref 943 476 5918", None).text
