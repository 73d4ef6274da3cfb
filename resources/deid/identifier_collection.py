"""What identifies the patient and study, gathered from a source header before the profile is applied.

The profile replaces names, IDs and dates where Table E.1-1 lists them, but the same values may also
be typed into kept free text (a series description, an SR TEXT item) or survive somewhere the table
does not reach. So, before anything is changed, :func:`collect_identifiers` gathers every person
name, patient/accession/order ID, birth date, address and phone number at every depth of the source
header; the deny list built from them scrubs kept text, and the leak check searches the output for
them. :func:`collect_source_uids` gathers the UIDs that must not appear unchanged in the output.

The institution names and device serial numbers (header attributes and the SR TEXT items that hold
them, ``sr_text_concepts.csv``) are gathered too, in :class:`SourceIdentifiers`: the leak check searches
for them, and the scrubber cleans kept text of them: serial numbers always (their attribute is
pseudonymised whatever the options), institution names when the output does not retain institution
identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import pydicom
from pydicom.datadict import dictionary_has_tag, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import STANDARD_VR

from resources.deid.deny_list import Identifiers
from resources.deid.element_values import as_list, raw_text_values, raw_vr, text_codec
from resources.deid.errors import UnreadableInstanceError
from resources.deid.options import option_actions
from resources.deid.ps315_actions import ActionCode
from resources.deid.sr_text_items import TEXT_VALUE, text_concept_of
from resources.deid.tag_paths import tag_label

_PATIENT_BIRTH_DATE = 0x00100030
# A person name that is only a title: as a deny-list term it would scrub every "Dr" in kept text.
_HONORIFICS = frozenset({"DR", "MR", "MRS", "MS", "MISS", "PROF", "JR", "SR", "II", "III", "MD", "PHD"})
_ID_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "MedicalRecordLocator",
    "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest",
    "AdmissionID",
)
_ID_TAGS = frozenset(int(pydicom.datadict.tag_for_keyword(k) or 0) for k in _ID_KEYWORDS)
_ADDRESS_TAGS = frozenset(
    int(pydicom.datadict.tag_for_keyword(k) or 0)
    for k in ("PatientAddress", "ReferringPhysicianAddress", "PersonAddress", "RegionOfResidence")
)
_PHONE_TAGS = frozenset(
    int(pydicom.datadict.tag_for_keyword(k) or 0)
    for k in ("PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers", "PersonTelephoneNumbers")
)
_INSTITUTION_TAGS = frozenset({0x00080080})  # Institution Name
# Serial numbers and similar device identifiers: what Retain Device Identity pseudonymises (action P),
# so the source value never belongs in the output.
_SERIAL_TAGS = frozenset(
    tag
    for tag, action in option_actions()["retain_device_identity"].items()
    if action is ActionCode.PSEUDONYMISE
)
# Manufacturer, Manufacturer's Model Name: kept vendor text. A test site named "TOSHIBA" on a
# "TOSHIBA_MEC" scanner names the vendor, whose name is no identifier of the site.
_VENDOR_TAGS = frozenset({0x00080070, 0x00081090})
# An institution "QA" would match everywhere; a four-digit serial "1234" matches station names
# ("dRFMax-1234") and numbers in kept text by chance: shorter values are not searched for.
_MIN_INSTITUTION = 4
_MIN_SERIAL = 6
_IDENTIFIER_TAGS = (
    _ID_TAGS
    | _ADDRESS_TAGS
    | _PHONE_TAGS
    | _INSTITUTION_TAGS
    | _SERIAL_TAGS
    | _VENDOR_TAGS
    | {_PATIENT_BIRTH_DATE, TEXT_VALUE}
)


@dataclass(frozen=True)
class SourceIdentifiers(Identifiers):
    """The patient's identifiers plus the source's institution names and device serial numbers."""

    institutions: frozenset[str] = frozenset()
    serials: frozenset[str] = frozenset()

    def literal_terms(self) -> dict[str, str]:
        """The patient's terms plus the device serial numbers: a serial is pseudonymised or removed in
        its own attribute whatever the options, so kept text ("SN98765, out of temperature range" in
        Detector Description) is scrubbed of it too. Institution names depend on the Retain
        Institution Identity option: ``deny_list_for(scrub_institutions=...)`` adds them."""
        terms = super().literal_terms()
        for serial in self.serials:
            terms.setdefault(serial, "DEVICE_SERIAL")
        return terms


_SOURCE_UID_KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _place_of(tag: int, raw: RawDataElement) -> str:
    """Where a damaged element sits, in words that carry no source bytes.

    Once the framing is off, the "tag" is four bytes of whatever stood there, source text included:
    only a tag of the DICOM dictionary is named; anything else is given by its byte offset.
    """
    if dictionary_has_tag(tag):
        return f"{tag_label(tag)} ({keyword_for_tag(tag) or 'dictionary element'})"
    return f"byte offset {raw.value_tell}"


def collect_identifiers(ds: Dataset) -> SourceIdentifiers:
    """Every identifying value of the source header at every depth (names, IDs, dates, address, phone).

    Institution names and device serial numbers come from their header attributes and from the SR
    TEXT items the concept table marks (``collect``).

    Raises
    ------
    UnreadableInstanceError
        If a value is shorter than its declared length (a truncated file), or an element has no known
        VR or an item or delimiter tag stands where an element should (lengths that do not add up).
    """
    names: set[str] = set()
    ids: set[str] = set()
    births: set[str] = set()
    addresses: set[str] = set()
    phones: set[str] = set()
    institutions: set[str] = set()
    serials: set[str] = set()
    vendors: set[str] = set()
    device_texts = {"institution": institutions, "serial": serials}

    def walk(item: Dataset) -> None:
        codec = text_codec(item)
        for key in list(item.keys()):
            tag = int(key)
            raw = item.get_item(key)
            # pydicom reads a truncated file silently: a value shorter than its declared length says so.
            if (
                isinstance(raw, RawDataElement)
                and isinstance(raw.value, bytes)
                and raw.length != 0xFFFFFFFF
                and len(raw.value) < raw.length
            ):
                raise UnreadableInstanceError(f"truncated at {_place_of(tag, raw)}")
            if isinstance(raw, RawDataElement) and raw.VR is not None and raw.VR not in STANDARD_VR:
                # Two bytes that name no VR: the framing is off here, and the element is not decodable.
                raise UnreadableInstanceError(f"unknown VR at {_place_of(tag, raw)}")
            if tag >> 16 == 0xFFFE:
                # Items and delimiters are structure, never elements: a wrong length put one here, and
                # the encoder would write it back as an element no reader can parse.
                raise UnreadableInstanceError(f"item or delimiter tag {tag_label(tag)} inside a dataset")
            vr = raw_vr(item, key)
            if vr == "SQ":
                for child in item[key].value or []:
                    walk(child)
                continue
            if tag >> 16 & 1 or (vr != "PN" and tag not in _IDENTIFIER_TAGS):
                continue
            # Read from the bytes where pydicom need not convert (the profile then replaces the element
            # without converting it either); ``single`` is what str() of the converted value gives.
            values = raw_text_values(item, key, codec)
            if values is None:
                elem = item[key]
                if not elem.value:
                    continue
                vr = elem.VR
                values = [str(v) for v in as_list(elem.value)]
                single = str(elem.value)
            elif not any(values):
                continue
            else:
                single = values[0] if len(values) == 1 else str(item[key].value)
            if vr == "PN":
                for v in values:
                    text = v.strip()
                    if text and text.upper() not in _HONORIFICS:
                        names.add(text)
            elif tag in _ID_TAGS:
                ids.update(s for s in (v.strip() for v in values) if len(s) >= 4)
            elif tag == _PATIENT_BIRTH_DATE:
                births.add(single.strip())
            elif tag in _ADDRESS_TAGS:
                addresses.update(values)
            elif tag in _PHONE_TAGS:
                phones.update(values)
            elif tag in _VENDOR_TAGS:
                vendors.update(v.lower() for v in values)
            elif tag in _INSTITUTION_TAGS or tag in _SERIAL_TAGS or tag == TEXT_VALUE:
                concept = text_concept_of(item) if tag == TEXT_VALUE else None
                if tag == TEXT_VALUE and (concept is None or concept.collect not in device_texts):
                    continue
                found = serials if tag in _SERIAL_TAGS else institutions
                if concept is not None:
                    found = device_texts[concept.collect]
                found.update(v.strip() for v in values)

    walk(ds)
    return SourceIdentifiers(
        frozenset(names),
        frozenset(ids),
        frozenset(births),
        frozenset(addresses),
        frozenset(phones),
        institutions=frozenset(
            name
            for name in institutions
            if len(name) >= _MIN_INSTITUTION and not any(_word_in(name.lower(), v) for v in vendors)
        ),
        serials=frozenset(serial for serial in serials if len(serial) >= _MIN_SERIAL),
    )


def _word_in(word: str, text: str) -> bool:
    """True when ``word`` occurs in ``text`` with no letter or digit on either side."""
    start = text.find(word)
    while start != -1:
        end = start + len(word)
        if (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            return True
        start = text.find(word, start + 1)
    return False


def collect_source_uids(ds: Dataset) -> frozenset[str]:
    """The source's SOP Instance, Study and Series Instance UIDs (none may survive unchanged)."""
    return frozenset(str(ds.get(k)) for k in _SOURCE_UID_KEYWORDS if ds.get(k))
