"""Given names and surnames to recognise in free text: the name lists shipped by the ``faker`` package.

Why ``faker`` (MIT licence, ``faker-*.dist-info/licenses/LICENSE.txt``, Copyright (c) 2012 Daniele
Faraglia): it is maintained (monthly releases), ships as a wheel with no runtime dependency on Linux,
and keeps its person names per locale, so one package gives the names of the populations a UK
hospital sees: British, Irish, Indian, Pakistani, Nigerian (English, Yoruba, Igbo, Hausa), Kenyan,
New Zealand and US lists, and Polish given names and surnames. The alternative, ``names`` 0.3.0 (MIT;
the US Census 1990 lists), is a 2013 source-only release whose 88,799 surnames hold the words of
radiology itself (HEAD, BRAIN, SPINE, KNEE, BODY, DOSE, BONE, HAND, FOOT are all listed): it would
cost clinical words for a US-only gain.

The data's sources are named in each locale's provider module, ``faker/providers/person/<locale>/``
(``en_US`` first names from the US Social Security Administration's baby-name lists, ``en_GB`` from
the Office for National Statistics, ``en_IE`` from the Duchas and NISRA lists, ``en_KE`` from
forebears.io, the Nigerian locales from Wikipedia's name lists); they are read here as plain data: no
fake value is ever generated.

Only ASCII alphabetic names of two letters or more are kept (with ``'`` and ``-`` inside), lower-cased.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from resources.deid.errors import DeidSettingsError

logger = logging.getLogger(__name__)

LOCALES = (
    "en_GB",
    "en_IE",
    "en_IN",
    "en_PK",
    "en_NG",
    "yo_NG",
    "ig_NG",
    "ha_NG",
    "en_KE",
    "en_NZ",
    "en_US",
    "pl_PL",
)
_GIVEN_ATTRIBUTES = ("first_names", "first_names_female", "first_names_male", "first_names_nonbinary")
_FAMILY_ATTRIBUTES = (
    "last_names",
    "last_names_female",
    "last_names_male",
    "male_last_names",  # pl_PL keeps its surnames under these two
    "unisex_last_names",
)
_NAME_SHAPE = re.compile(r"[a-z][a-z'\-]*[a-z]")
# A list shorter than this is no real name list (pl_PL has a one-entry "last_names").
_MIN_LIST_SIZE = 10


@dataclass(frozen=True)
class NameGazetteer:
    """Lower-cased given names and surnames; ``locales`` says where they came from."""

    given: frozenset[str]
    family: frozenset[str]
    locales: tuple[str, ...]

    def __contains__(self, word: object) -> bool:
        return word in self.given or word in self.family


def _names_of(provider: type, attributes: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for attribute in attributes:
        values = getattr(provider, attribute, None)
        if not isinstance(values, tuple | list | dict) or len(values) < _MIN_LIST_SIZE:
            continue
        for value in values:
            word = str(value).lower()
            if word.isascii() and _NAME_SHAPE.fullmatch(word):
                found.add(word)
    return found


@lru_cache(maxsize=1)
def load_gazetteer(locales: tuple[str, ...] = LOCALES) -> NameGazetteer:
    """The given names and surnames of ``locales`` (read once per process).

    Raises
    ------
    DeidSettingsError
        If ``faker`` is not installed or a locale has no person-name provider.
    """
    given: set[str] = set()
    family: set[str] = set()
    for locale in locales:
        module_name = f"faker.providers.person.{locale}"
        try:
            provider = importlib.import_module(module_name).Provider
        except (ImportError, AttributeError) as exc:
            raise DeidSettingsError(
                f"{module_name}: name gazetteer locale not available (install faker): {exc}"
            ) from exc
        given |= _names_of(provider, _GIVEN_ATTRIBUTES)
        family |= _names_of(provider, _FAMILY_ATTRIBUTES)
    logger.debug("name gazetteer: %d given names, %d surnames from %s", len(given), len(family), locales)
    return NameGazetteer(frozenset(given), frozenset(family), locales)
