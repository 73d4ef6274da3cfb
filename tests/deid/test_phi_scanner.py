"""The free-text scanner: no network, deny-list variants, generic recognizers, per-string cache."""

from __future__ import annotations

import socket

import pytest

from resources.deid.deny_list import DenyList, Identifiers, birth_date_variants, deny_list_for, name_variants
from resources.deid.engine import Deidentifier
from resources.deid.phi_scanner import PhiScanner
from tests.dicom_builder import dose_sr, sr_container, sr_text, with_file_meta


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


def test_presidio_sees_only_strings_one_of_its_recognizers_could_match(scanner: PhiScanner) -> None:
    texts = [
        "CT HEAD W/O CONTRAST",  # no digit, '@', '.' or ':': presidio skipped
        "Bilateral screening mammogram",
        "CT KUB 432.33mm",
        "born 12/03/1954",
        "mail j.doe@example.org",
        "see example.org",
        "host fe80::1",
        "NHS 943 476 5919",
    ]
    scanner.generic.cache_clear()
    before = scanner.stats.presidio_strings
    for text in texts:
        expected = {
            (r.start, r.end, r.entity_type)
            for r in scanner._analyzer.analyze(text=text, language="en", score_threshold=0.5)
        }
        assert {(s.start, s.end, s.entity_type) for s in scanner.generic(text)} >= expected, text
    assert scanner.stats.presidio_strings - before == len(texts) - 2
    assert 0.0 < scanner.stats.presidio_share <= 1.0 and scanner.stats.seconds_per_string > 0.0


def test_a_numeric_id_typed_with_spaces_is_denied_and_the_comment_repeats(scanner: PhiScanner) -> None:
    # 999 numbers fail the NHS checksum, so presidio's NHS recognizer does not see them.
    comments = []
    for nhs in ("9992181842", "9990053127"):
        deny = deny_list_for(Identifiers(ids=frozenset({nhs})))
        spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
        comments.append(scanner.scrub(f"NHS {spaced} checked at reception", deny).text)
    assert comments == ["NHS [ID] checked at reception"] * 2  # one cache entry for every patient
    assert deny_list_for(Identifiers(ids=frozenset({"9992181842"}))).find("ref x9992181842") == []


def test_an_sr_costs_one_deny_list_and_one_scan_per_distinct_text(
    engine: Deidentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    original_init = DenyList.__init__

    def counting_init(self: DenyList, identifiers: Identifiers, *args: object) -> None:
        built.append(identifiers)
        original_init(self, identifiers, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DenyList, "__init__", counting_init)
    misses = []
    for events in (40, 160):
        tree = [
            sr_container(
                ("113706", "DCM", "Irradiation Event X-Ray Data"),
                [
                    sr_text(("121106", "DCM", "Comment"), f"run {n} seen by Dr Okafor"),
                    sr_text(("125203", "DCM", "Acquisition Protocol"), "Abdomen 7.5 fps"),
                ],
            )
            for n in range(events)
        ]
        ds = dose_sr(PatientName=f"Rigby^Eleanor{events}", PatientID=f"MRN{events}", ContentSequence=tree)
        engine.scanner.generic.cache_clear()
        result = engine.deidentify(with_file_meta(ds))
        assert result.outcome == "deidentified", result.reasons
        assert "Okafor" not in str(result.dataset)
        misses.append(engine.scanner.generic.cache_info().misses)
    assert len(built) <= 2  # one deny list per file, never one per content item
    assert misses[1] - misses[0] == 120  # one generic scan per new distinct text, nothing per item
