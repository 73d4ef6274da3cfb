"""What identifies the patient and study, gathered from a source header before the profile is applied.

The profile replaces names, IDs and dates where Table E.1-1 lists them, but the same values may also
be typed into kept free text (a series description, an SR TEXT item) or survive somewhere the table
does not reach. So, before anything is changed, :func:`collect_identifiers` gathers every person
name, patient/accession/order ID, birth date, address and phone number at every depth of the source
header; the deny list built from them scrubs kept text, and the leak check searches the output for
them. :func:`collect_source_uids` gathers the UIDs that must not appear unchanged in the output.
"""

from __future__ import annotations

import pydicom
from pydicom.datadict import dictionary_has_tag, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import STANDARD_VR

from resources.deid.deny_list import Identifiers
from resources.deid.element_values import as_list, raw_vr
from resources.deid.errors import UnreadableInstanceError
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
_IDENTIFIER_TAGS = _ID_TAGS | _ADDRESS_TAGS | _PHONE_TAGS | {_PATIENT_BIRTH_DATE}
_SOURCE_UID_KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _place_of(tag: int, raw: RawDataElement) -> str:
    """Where a damaged element sits, in words that carry no source bytes.

    Once the framing is off, the "tag" is four bytes of whatever stood there, source text included:
    only a tag of the DICOM dictionary is named; anything else is given by its byte offset.
    """
    if dictionary_has_tag(tag):
        return f"{tag_label(tag)} ({keyword_for_tag(tag) or 'dictionary element'})"
    return f"byte offset {raw.value_tell}"


def collect_identifiers(ds: Dataset) -> Identifiers:
    """Every identifying value of the source header at every depth (names, IDs, dates, address, phone).

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

    def walk(item: Dataset) -> None:
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
            vr = raw_vr(item, tag)
            if vr == "SQ":
                for child in item[key].value or []:
                    walk(child)
                continue
            if tag >> 16 & 1 or (vr != "PN" and tag not in _IDENTIFIER_TAGS):
                continue
            elem = item[key]
            if not elem.value:
                continue
            if elem.VR == "PN":
                for v in as_list(elem.value):
                    text = str(v).strip()
                    if text and text.upper() not in _HONORIFICS:
                        names.add(text)
            elif tag in _ID_TAGS:
                ids.update(s for s in (str(v).strip() for v in as_list(elem.value)) if len(s) >= 4)
            elif tag == _PATIENT_BIRTH_DATE:
                births.add(str(elem.value).strip())
            elif tag in _ADDRESS_TAGS:
                addresses.update(str(v) for v in as_list(elem.value))
            elif tag in _PHONE_TAGS:
                phones.update(str(v) for v in as_list(elem.value))

    walk(ds)
    return Identifiers(
        frozenset(names), frozenset(ids), frozenset(births), frozenset(addresses), frozenset(phones)
    )


def collect_source_uids(ds: Dataset) -> frozenset[str]:
    """The source's SOP Instance, Study and Series Instance UIDs (none may survive unchanged)."""
    return frozenset(str(ds.get(k)) for k in _SOURCE_UID_KEYWORDS if ds.get(k))
