"""The PS3.15 Annex E options dicom-lake supports, their switches and their codes.

Each option that is on is recorded in De-identification Method Code Sequence (0012,0064), scheme DCM
(PS3.16 CID 7050 "De-identification Method"). The per-attribute effect of the options lives in
``ps315_options.csv`` beside this module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import pydicom.datadict

from resources.deid.errors import DeidSettingsError, ProfileTableError
from resources.deid.ps315_actions import ActionCode
from resources.site_config import DeidentificationSettings

OPTIONS_CSV = Path(__file__).with_name("ps315_options.csv")
# What an option column may ask for: keep, clean, or pseudonymise (dicom-lake's P).
_OPTION_ACTIONS = frozenset({ActionCode.KEEP, ActionCode.CLEAN, ActionCode.PSEUDONYMISE})

BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES: dict[str, tuple[str, str]] = {
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}
# Site choices inside an option: ``ps315_options.csv`` rows the standard puts under the option (value)
# that a site keeps only when it also switches the choice (key) on. They add no method code.
SITE_CHOICES: dict[str, str] = {
    "retain_ethnic_group": "retain_patient_characteristics",
}


@dataclass(frozen=True)
class DeidOptions:
    """Which Annex E options are on (defaults follow the site config defaults)."""

    retain_modified_dates: bool = True
    retain_patient_characteristics: bool = True
    retain_device_identity: bool = True
    retain_institution_identity: bool = False
    clean_descriptors: bool = True
    clean_structured_content: bool = True
    retain_safe_private: bool = True
    max_date_shift_days: int = 365
    allow_burned_in_pixels: bool = False
    # Ethnic Group (0010,2160) is kept by Retain Patient Characteristics in PS3.15, but it is a
    # special category of personal data that rarely serves dose or image research: kept only when
    # the site says so, and best left off for any export outside the hospital.
    retain_ethnic_group: bool = False

    def __post_init__(self) -> None:
        """Refuse a site choice whose option is off.

        Raises
        ------
        DeidSettingsError
            Naming the choice and the option it needs.
        """
        for choice, option in SITE_CHOICES.items():
            if getattr(self, choice) and not getattr(self, option):
                raise DeidSettingsError(f"deidentification.{choice} needs deidentification.{option} on")

    @classmethod
    def from_settings(cls, settings: DeidentificationSettings) -> DeidOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{name: getattr(settings, name) for name in names})

    def enabled(self) -> list[str]:
        """Names of the options that are on, in code order."""
        return [name for name in OPTION_CODES if getattr(self, name)]

    def site_choices(self) -> list[str]:
        """Names of the site choices that are on (they refine an option and add no method code)."""
        return [name for name in SITE_CHOICES if getattr(self, name)]

    def method_codes(self) -> list[tuple[str, str]]:
        """(code value, meaning) for the Basic Profile and every option that is on."""
        return [BASIC_PROFILE_CODE, *(OPTION_CODES[name] for name in self.enabled())]


@cache
def option_actions() -> dict[str, dict[int, ActionCode]]:
    """``{option name: {tag: action}}`` from ``ps315_options.csv``.

    Raises
    ------
    ProfileTableError
        If the file is missing, names an unknown option (or site choice) or an unknown keyword.
    """
    if not OPTIONS_CSV.exists():
        raise ProfileTableError(f"{OPTIONS_CSV.name}: option table is missing")
    out: dict[str, dict[int, ActionCode]] = {}
    with OPTIONS_CSV.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            option, keyword, action = row["option"], row["keyword"], row["action"]
            tag = pydicom.datadict.tag_for_keyword(keyword)
            known = option in OPTION_CODES or option in SITE_CHOICES
            if not known or tag is None or action not in _OPTION_ACTIONS:
                raise ProfileTableError(f"{OPTIONS_CSV.name}: bad row for option {option!r} ({keyword})")
            out.setdefault(option, {})[int(tag)] = ActionCode(action)
    return out
