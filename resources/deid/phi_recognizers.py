"""The presidio analyzer the PHI scanner runs: its recognizers and its offline NLP engine.

The ``AnalyzerEngine`` is built with an explicit NLP engine - a blank spaCy pipeline (tokeniser only) -
so nothing is downloaded; a spaCy NER model is used only when one is installed and named in the site
config. Two recognizers are adapted: the e-mail recognizer checks domains against tldextract's bundled
public suffix list instead of fetching it, the phone recognizer skips text without a digit, and the URL
recognizer does not take a dose unit ("mGy.cm") for a domain.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from presidio_analyzer.nlp_engine import NlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

PHONE_REGIONS = ("GB", "US", "DE", "FR", "NL", "IE")
# The entity types the generic recognizers report; a span of one is replaced by ``[ENTITY]``.
GENERIC_ENTITIES = (
    "DATE_TIME",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "URL",
    "IP_ADDRESS",
    "UK_NHS",
    "US_SSN",
    "MEDICAL_RECORD_NUMBER",
    "PERSON",
    "LOCATION",
)
_MRN_CONTEXT = (
    r"(?:MRN|M\.R\.N\.|hospital\s+(?:no|number)|patient\s+(?:id|no|number)"
    r"|record\s+(?:no|number)|NHS\s+(?:no|number)|RN|ID)"
)


def _offline_email_recognizer() -> EntityRecognizer:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    # presidio's e-mail check fetches the public suffix list from the internet on first use; the
    # snapshot bundled with tldextract is enough to tell a domain from a dotted word.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline(pattern_text).fqdn)

    return OfflineEmailRecognizer()


# Dose units written with a dot ("mGy.cm", the DLP unit) end in a country-code TLD (.cm Cameroon).
_DOSE_UNIT = re.compile(r"(?i)[mcdu\u00b5]?gy\.(?:cm2?|m2?)")


def _dose_unit_aware_url_recognizer() -> EntityRecognizer:
    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    class DoseUnitAwareUrlRecognizer(UrlRecognizer):
        """presidio's URL recognizer, except for a dose unit taken for a domain ("mGy.cm")."""

        def invalidate_result(self, pattern_text: str) -> bool:
            return _DOSE_UNIT.fullmatch(pattern_text.strip()) is not None

    return DoseUnitAwareUrlRecognizer()


def _digit_gated_phone_recognizer(regions: tuple[str, ...]) -> PhoneRecognizer:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class DigitGatedPhoneRecognizer(PhoneRecognizer):
        """presidio's phone recognizer, not run on text without a digit (most descriptions).

        ``phonenumbers`` accepts a candidate only with at least two decimal digits (its
        VALID_PHONE_NUMBER pattern), so text without any digit character cannot hold a phone number;
        its matcher costs more than every other recognizer together.
        """

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if not any(char.isdigit() for char in text):
                return []
            return list(super().analyze(text, entities, nlp_artifacts))

    return DigitGatedPhoneRecognizer(supported_regions=regions)


def _build_nlp_engine(spacy_model: str | None) -> NlpEngine:
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model or "blank"}])
    # Set the pipeline ourselves instead of load(): load() downloads a missing model from the internet.
    engine.nlp = {"en": spacy.load(spacy_model) if spacy_model else spacy.blank("en")}  # type: ignore[assignment]
    return engine


def build_analyzer(spacy_model: str | None = None) -> AnalyzerEngine:
    """A presidio ``AnalyzerEngine`` that needs no network: pattern recognizers (+ NER if a model is named).

    Raises
    ------
    OSError
        If ``spacy_model`` is named but not installed (spaCy's own error).
    """
    # presidio logs its device and every recognizer it loads at INFO: noise for one scanner per process.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (
        DateRecognizer,
        IpRecognizer,
        NhsRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        DateRecognizer(),
        _offline_email_recognizer(),
        IpRecognizer(),
        NhsRecognizer(),
        _digit_gated_phone_recognizer(PHONE_REGIONS),
        _dose_unit_aware_url_recognizer(),
        UsSsnRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    registry.add_recognizer(
        PatternRecognizer(
            supported_entity="MEDICAL_RECORD_NUMBER",
            name="MrnNearContextRecognizer",
            patterns=[
                Pattern(
                    "mrn_after_context_word",
                    rf"(?i)\b{_MRN_CONTEXT}\s*[:#.]?\s*[A-Z]{{0,3}}\d{{5,12}}\b",
                    0.8,
                )
            ],
        )
    )
    if spacy_model:
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]))
    return AnalyzerEngine(
        registry=registry, nlp_engine=_build_nlp_engine(spacy_model), supported_languages=["en"]
    )
