"""The de-identification engine: one source dataset or file in, a research dataset (or a reason) out.

Order of work for one instance: read (bad input -> quarantined), opt-out (-> opted_out, nothing
written), burned-in pixel screen (-> quarantined unless allowed), collect the source identifiers,
apply the PS3.15 profile and options at every depth, scrub the text that survives, mark the object,
then search the output for every source identifier (any hit -> quarantined).

Results never carry source values: reasons name the file or tag and what was wrong; findings are
(pseudonymised SOP Instance UID, tag path, entity type, score, action).
"""

from __future__ import annotations

import csv
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian

from resources.deid.encoder import encode_file
from resources.deid.errors import UnreadableInstanceError
from resources.deid.leak_check import STRUCTURAL_CODE_TAGS, LeakHit, encoded_may_leak, find_leaks, raw_vr
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import (
    DenyList,
    Identifiers,
    PhiScanner,
    deny_list_for,
    merge_spans,
    replace_spans,
)
from resources.deid.profile import Profile
from resources.deid.pseudonyms import Pseudonymiser, shift_da, shift_dt
from resources.deid.tag_paths import tag_label
from resources.deid.vault import Vault

logger = logging.getLogger(__name__)

Outcome = Literal["deidentified", "quarantined", "opted_out"]
SAFE_PRIVATE_CSV = Path(__file__).with_name("safe_private.csv")

_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN", "AE", "UR"})
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
_SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_CONTENT_SEQUENCE = 0x0040A730
_TEXT_VALUE = 0x0040A160
_PERSON_NAME = 0x0040A123
_CONCEPT_NAME = 0x0040A043
_PATIENT_BIRTH_DATE = 0x00100030
_PIXEL_DATA = 0x7FE00010
# SR observer concepts (DCM, PS3.16 TID 1002/1004): person name, organisation, device serial number.
_OBSERVER_PERSON = "121008"
_OBSERVER_ORGANISATION = "121009"
_DEVICE_SERIAL = "121016"
_DEVICE_LOCATION = "121017"
_HONORIFICS = frozenset({"DR", "MR", "MRS", "MS", "MISS", "PROF", "JR", "SR", "II", "III", "MD", "PHD"})
# Warnings from pydicom that mean the bytes cannot be trusted (instance is quarantined).
_UNTRUSTED_WARNING_WORDS = (
    "character set",
    "encoding",
    "codec",
    "decode",
    "delimiter",
    "truncat",
    "end of file",
    "unknown vr",
)
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


@dataclass(frozen=True)
class Finding:
    """One PHI span found in a kept text value (audit record; never the text itself)."""

    sop_instance_uid: str
    tag_path: str
    entity_type: str
    score: float
    action: str

    def as_dict(self) -> dict[str, object]:
        return {
            "sop_instance_uid": self.sop_instance_uid,
            "tag_path": self.tag_path,
            "entity_type": self.entity_type,
            "score": self.score,
            "action": self.action,
        }


@dataclass
class DeidResult:
    """What happened to one instance. ``dataset`` is the research copy when ``outcome`` is deidentified."""

    outcome: Outcome
    name: str
    dataset: Dataset | None = None
    encoded: bytes | None = None  # the research copy as a DICOM file (preamble, meta header, dataset)
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    leaks: list[LeakHit] = field(default_factory=list)
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    burned_in: bool = False

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class SafePrivateElement:
    group: int
    creator: str
    offset: int
    vr: str
    name: str


def load_safe_private(path: Path = SAFE_PRIVATE_CSV) -> dict[tuple[int, str, int], SafePrivateElement]:
    """The Retain Safe Private allow-list keyed by (group, creator, offset)."""
    out: dict[tuple[int, str, int], SafePrivateElement] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            entry = SafePrivateElement(
                int(row["group"], 16), row["creator"].strip(), int(row["offset"], 16), row["vr"], row["name"]
            )
            out[(entry.group, entry.creator, entry.offset)] = entry
    return out


def load_opt_out(path: Path | None) -> frozenset[str]:
    """Patient identifiers that opted out: one per line, ``#`` starts a comment."""
    if path is None:
        return frozenset()
    values = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        value = line.split("#", 1)[0].strip()
        if value:
            values.add(value)
    return frozenset(values)


class _Context:
    """Per-instance state while walking: the shift, the deny list, the findings."""

    def __init__(self, sop_uid: str, shift_days: int | None, deny: DenyList) -> None:
        self.sop_uid = sop_uid
        self.shift_days = shift_days
        self.deny = deny
        self.findings: list[Finding] = []


class Deidentifier:
    """Applies PS3.15 Annex E (profile + options), free-text scrubbing and the leak check.

    Build once per process (the PHI scanner is costly to build) and call :meth:`deidentify_file` or
    :meth:`deidentify` per instance. Thread-compatible but not meant to be shared across threads.
    """

    def __init__(
        self,
        options: DeidOptions,
        secret_key: bytes,
        *,
        scanner: PhiScanner | None = None,
        recipient_key: bytes | None = None,
        vault: Vault | None = None,
        opt_out_ids: Iterable[str] = (),
        safe_private: dict[tuple[int, str, int], SafePrivateElement] | None = None,
        spacy_model: str | None = None,
    ) -> None:
        self.options = options
        self.profile = Profile(options)
        self.pseudonyms = Pseudonymiser(
            secret_key, recipient_key=recipient_key, max_shift_days=options.max_date_shift_days
        )
        self.scanner = scanner or PhiScanner(spacy_model)
        self.vault = vault
        self.opt_out_ids = frozenset(v.strip() for v in opt_out_ids)
        self.safe_private = load_safe_private() if safe_private is None else safe_private

    @property
    def profile_version(self) -> str:
        """Names the table edition and the options in force (goes into warehouse lineage)."""
        return f"ps315-{self.profile.edition}:" + ",".join(self.options.enabled())

    # -- files ------------------------------------------------------------------------------------
    def read(self, path: Path) -> Dataset:
        """Read a source file strictly enough to refuse what cannot be trusted.

        Raises
        ------
        UnreadableInstanceError
            Naming the file and the reason (no meta header, undecodable); truncation is found
            while de-identifying (values are read lazily).
        """
        name = Path(path).name
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ds = pydicom.dcmread(path)
        except InvalidDicomError:
            raise UnreadableInstanceError(f"{name}: not a DICOM file with a meta header (PS3.10)") from None
        except Exception as exc:  # pydicom raises many types for damaged input
            raise UnreadableInstanceError(f"{name}: unreadable DICOM ({type(exc).__name__})") from None
        _raise_on_untrusted(name, caught)
        if "SOPInstanceUID" not in ds:
            raise UnreadableInstanceError(f"{name}: no SOP Instance UID")
        return ds

    def deidentify_file(self, path: Path) -> DeidResult:
        name = Path(path).name
        try:
            ds = self.read(Path(path))
        except UnreadableInstanceError as exc:
            return DeidResult("quarantined", name, reasons=[str(exc)])
        return self.deidentify(ds, name=name)

    # -- one dataset ------------------------------------------------------------------------------
    def deidentify(self, ds: Dataset, *, name: str = "") -> DeidResult:
        """De-identify ``ds`` in place and return the result. Never raises for bad content."""
        name = name or "dataset"
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = self._deidentify(ds, name)
            _raise_on_untrusted(name, caught)
            return result
        except UnreadableInstanceError as exc:
            reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            return DeidResult("quarantined", name, reasons=[reason])
        except Exception as exc:  # damaged values surface lazily while walking
            logger.debug("de-identification of %s failed", name, exc_info=False)
            return DeidResult(
                "quarantined", name, reasons=[f"{name}: could not be de-identified ({type(exc).__name__})"]
            )

    def _deidentify(self, ds: Dataset, name: str) -> DeidResult:
        patient_id = str(ds.get("PatientID", "") or "").strip()
        issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
        if self.opt_out_ids and self._opted_out(ds, patient_id):
            return DeidResult("opted_out", name, reasons=[f"{name}: patient opted out"])

        burned_in_reason = self._burned_in_reason(ds, name)
        if burned_in_reason and not self.options.allow_burned_in_pixels:
            return DeidResult("quarantined", name, reasons=[burned_in_reason], burned_in=True)

        identifiers = collect_identifiers(ds)
        source_uids = _collect_uids(ds)
        first_stage = self.pseudonyms.first_stage_pseudonym(patient_id, issuer)
        pseudonym = self.pseudonyms.patient_pseudonym(patient_id, issuer)
        shift = (
            self.pseudonyms.date_shift_days(patient_id, issuer)
            if self.options.retain_modified_dates
            else None
        )
        sop_uid = self.pseudonyms.uid(str(ds.SOPInstanceUID))
        context = _Context(sop_uid, shift, deny_list_for(identifiers))

        transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        self._walk(ds, "", context, in_content_tree=False)
        self._mark(ds, pseudonym)
        _new_file_meta(ds, transfer_syntax)
        # The 128-byte preamble is application-defined (PS3.10 7.1) and may carry anything, e.g. a
        # TIFF header with the source's own tags: the research copy gets a zeroed one.
        ds.preamble = b"\x00" * 128

        encoded = encode_file(ds)
        leaks: list[LeakHit] = []
        if encoded_may_leak(encoded, ds, identifiers, source_uids):
            leaks = find_leaks(ds, identifiers, uids=source_uids)
        result = DeidResult(
            "deidentified",
            name,
            dataset=ds,
            encoded=encoded,
            findings=context.findings,
            study_uid=str(ds.get("StudyInstanceUID", "")),
            series_uid=str(ds.get("SeriesInstanceUID", "")),
            sop_instance_uid=sop_uid,
            burned_in=bool(burned_in_reason),
        )
        if leaks:
            paths = sorted({hit.tag_path for hit in leaks})[:5]
            result.outcome = "quarantined"
            result.dataset = None
            result.encoded = None
            result.leaks = leaks
            result.reasons.append(
                f"{name}: leak check found {len(leaks)} source identifier(s) at {', '.join(paths)}"
            )
            return result
        if self.vault is not None:
            identity = {"patient_id": patient_id, "issuer": issuer, "first_stage": first_stage}
            self.vault.record(pseudonym, identity)
        return result

    def _opted_out(self, ds: Dataset, patient_id: str) -> bool:
        if patient_id in self.opt_out_ids:
            return True
        others = ds.get("OtherPatientIDs")
        if others and any(str(v).strip() in self.opt_out_ids for v in _as_list(others)):
            return True
        return any(
            str(item.get("PatientID", "")).strip() in self.opt_out_ids
            for item in ds.get("OtherPatientIDsSequence", [])
        )

    @staticmethod
    def _burned_in_reason(ds: Dataset, name: str) -> str | None:
        flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        if flag == "YES":
            return f"{name}: Burned In Annotation is YES (pixel cleaning is not available)"
        if flag == "NO" or _PIXEL_DATA not in ds:
            return None
        modality = str(ds.get("Modality", "") or "").upper()
        sop_class = str(ds.get("SOPClassUID", ""))
        if modality == "US" or sop_class.startswith(_SC_PREFIX):
            return f"{name}: {modality or 'SC'} pixel data without a Burned In Annotation flag"
        return None

    # -- the walk -----------------------------------------------------------------------------------
    def _walk(self, ds: Dataset, prefix: str, context: _Context, *, in_content_tree: bool) -> None:
        if in_content_tree:
            self._clean_content_item(ds, prefix, context)
        for tag in list(ds.keys()):
            tag_int = int(tag)
            if tag_int >> 16 & 1:
                self._private(ds, tag_int, prefix, context)
                continue
            # Elements are converted from raw bytes only when they are changed or searched: a raw
            # element that is kept is written back as it came, which is most of the time saved.
            vr = raw_vr(ds, tag_int)
            action = self.profile.action_for(tag_int, vr)
            path = prefix + tag_label(tag_int)
            if vr == "SQ":
                self._sequence(ds, ds[tag], action, path, context, in_content_tree)
                continue
            if context.shift_days is not None and vr in ("DA", "DT") and tag_int != _PATIENT_BIRTH_DATE:
                _shift(ds[tag], context.shift_days)
                continue
            if context.shift_days is not None and vr == "TM" and action in ("D", "Z", "X", "C"):
                continue  # whole-day shifts leave times of day unchanged (needed for dose timing)
            if action is None or action == "K":
                # Coded values are never rewritten: a scheme designator "TEST" matching a surname must
                # not break the code (the leak check skips them for the same reason).
                if vr in _TEXT_VRS and tag_int not in STRUCTURAL_CODE_TAGS:
                    raw = ds._dict[tag]
                    if isinstance(raw, RawDataElement) and _raw_text_is_clean(ds, raw, context.deny):
                        continue  # no identifier in the source bytes: written back as they came
                    elem = ds[tag]
                    if elem.value and not self._scrub(elem, path, context, generic=False):
                        _restore_raw(ds, tag, raw)
                continue
            if action == "X":
                del ds[tag]
                continue
            raw_before = ds._dict[tag]
            elem = ds[tag]
            if action == "Z":
                elem.value = None
            elif action == "D":
                _dummy(elem, self.pseudonyms)
            elif action == "U":
                if vr == "UI" and elem.value:
                    elem.value = [self.pseudonyms.uid(str(v)) for v in _as_list(elem.value)]
                    if len(elem.value) == 1:
                        elem.value = elem.value[0]
                elif vr != "UI":
                    _dummy(elem, self.pseudonyms)
            elif action == "C":
                generic = vr in _FREE_TEXT_VRS
                if vr in _TEXT_VRS and elem.value and not self._scrub(elem, path, context, generic=generic):
                    _restore_raw(ds, tag, raw_before)
            elif action == "P" and elem.value:
                elem.value = self.pseudonyms.value_pseudonym(f"device:{tag_int:08X}", str(elem.value))

    def _sequence(
        self, ds: Dataset, elem: DataElement, action: str | None, path: str, context: _Context, in_tree: bool
    ) -> None:
        if action == "X":
            del ds[elem.tag]
            return
        if action in ("Z", "D"):
            elem.value = Sequence([])
            return
        child_in_tree = in_tree or (int(elem.tag) == _CONTENT_SEQUENCE and action == "C")
        for index, item in enumerate(elem.value or []):
            self._walk(item, f"{path}[{index}].", context, in_content_tree=child_in_tree)

    def _clean_content_item(self, item: Dataset, prefix: str, context: _Context) -> None:
        """Clean Structured Content: keep the tree; clean PNAME, TEXT and observer items by concept."""
        concept = ""
        names = item.get("ConceptNameCodeSequence")
        if names:
            concept = str(names[0].get("CodeValue", ""))
        value_type = str(item.get("ValueType", ""))
        if value_type == "PNAME" and _PERSON_NAME in item:
            item[_PERSON_NAME].value = "ANONYMIZED"
            context.findings.append(
                Finding(context.sop_uid, prefix + tag_label(_PERSON_NAME), "PERSON", 1.0, "replaced")
            )
        elif value_type == "TEXT" and _TEXT_VALUE in item:
            elem = item[_TEXT_VALUE]
            path = prefix + tag_label(_TEXT_VALUE)
            if concept == _DEVICE_SERIAL and elem.value:
                elem.value = self.pseudonyms.value_pseudonym("device:00181000", str(elem.value))
            elif concept == _OBSERVER_ORGANISATION and not self.options.retain_institution_identity:
                elem.value = "ANONYMIZED"
                context.findings.append(Finding(context.sop_uid, path, "ORGANIZATION", 1.0, "replaced"))
            elif concept == _DEVICE_LOCATION and not self.options.retain_device_identity:
                elem.value = "ANONYMIZED"
            elif elem.value:
                self._scrub(elem, path, context, generic=True)

    def _private(self, ds: Dataset, tag: int, prefix: str, context: _Context) -> None:
        group, element = tag >> 16, tag & 0xFFFF
        if not self.options.retain_safe_private or not self.safe_private:
            del ds[tag]
            return
        if 0x0010 <= element <= 0x00FF:  # a private creator: kept only if one of its elements is kept
            creator = str(ds[tag].value or "").strip()
            if not any(key[0] == group and key[1] == creator for key in self.safe_private):
                del ds[tag]
            return
        creator_tag = (group << 16) | (element >> 8)
        creator_elem = ds.get(creator_tag)
        creator = str(creator_elem.value).strip() if creator_elem is not None and creator_elem.value else ""
        entry = self.safe_private.get((group, creator, element & 0xFF))
        if entry is None or element < 0x1000:
            del ds[tag]
            return
        elem = ds[tag]
        if elem.VR in ("UN", "OB") and entry.vr not in ("UN", "OB"):
            return  # implicit-VR private value kept as bytes; the leak check still searches it
        if elem.VR in _TEXT_VRS and elem.value:
            self._scrub(elem, prefix + tag_label(tag), context, generic=True)

    def _scrub(self, elem: DataElement, path: str, context: _Context, *, generic: bool) -> bool:
        """Replace identifier spans in a text element's values; True when the value changed."""
        values = _as_list(elem.value)
        changed = False
        out = []
        for value in values:
            text = str(value)
            if generic:
                result = self.scanner.scrub(text, context.deny)
                new_text, spans = result.text, result.spans
            else:
                found = context.deny.find(text)
                if found:
                    merged = merge_spans(found)
                    new_text, spans = replace_spans(text, merged), tuple(merged)
                else:
                    new_text, spans = text, ()
            for span in spans:
                context.findings.append(
                    Finding(context.sop_uid, path, span.entity_type, span.score, "replaced")
                )
            changed = changed or new_text != text
            out.append(new_text)
        if changed:
            if elem.VR == "PN":
                elem.value = "ANONYMIZED"
            else:
                elem.value = out if len(out) > 1 else out[0]
        return changed

    # -- marking ------------------------------------------------------------------------------------
    def _mark(self, ds: Dataset, pseudonym: str) -> None:
        ds.PatientName = pseudonym
        ds.PatientID = pseudonym
        if "IssuerOfPatientID" in ds:
            del ds.IssuerOfPatientID
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = f"dicom-lake PS3.15 E.1-1 {self.profile.edition}"[:64]
        codes = Sequence()
        for value, meaning in self.options.method_codes():
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        ds.LongitudinalTemporalInformationModified = (
            "MODIFIED" if self.options.retain_modified_dates else "REMOVED"
        )


# -- helpers ------------------------------------------------------------------------------------------
def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]


# Python codecs (as pydicom names them) under which a text value's bytes decode in one step.
_SINGLE_BYTE_CODECS = frozenset({"iso8859", "latin_1", "iso-8859-1", "ascii"})
_UTF8_CODECS = frozenset({"UTF8", "utf_8", "utf-8"})


def _raw_text_is_clean(ds: Dataset, raw: RawDataElement, deny: DenyList) -> bool:
    """True when a raw text value certainly holds no identifier, judged on its bytes without converting it.

    The whole value (all its multiple values, backslashes and padding included) is decoded in one step
    and searched with the deny list. Backslash, space and NUL are word boundaries for the deny list, so
    any identifier found in one converted value is also found here: a False answer sends the element
    through the ordinary conversion and scrub. Other character sets always take that path.
    """
    value = raw.value
    if not isinstance(value, bytes) or raw.length == 0xFFFFFFFF or len(value) < raw.length:
        return False
    codecs = ds._character_set
    if len(codecs) != 1:
        return False
    if codecs[0] in _SINGLE_BYTE_CODECS:
        text = value.decode("latin-1")
        if codecs[0] == "ascii" and not text.isascii():
            return False
    elif codecs[0] in _UTF8_CODECS:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return False  # the conversion reports it (quarantine)
    else:
        return False
    return not deny.find(text)


def _restore_raw(ds: Dataset, tag: int, raw: DataElement | RawDataElement) -> None:
    """Put back the source bytes of a text element the scrub left unchanged (written as they came)."""
    if isinstance(raw, RawDataElement):
        ds._dict[BaseTag(tag)] = raw


def _raise_on_untrusted(name: str, caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:
        text = str(warning.message).lower()
        if any(word in text for word in _UNTRUSTED_WARNING_WORDS):
            raise UnreadableInstanceError(
                f"{name}: damaged or undecodable content ({warning.category.__name__})"
            )


def _shift(elem: DataElement, days: int) -> None:
    values = _as_list(elem.value)
    if not values:
        return
    shift = shift_da if elem.VR == "DA" else shift_dt
    out = [shift(str(v), days) for v in values]
    kept = [v for v in out if v]
    if len(kept) != len(out):
        elem.value = None  # an unparseable date cannot be shifted, so it is not kept
    else:
        elem.value = kept if len(kept) > 1 else kept[0]


_DUMMY_BY_VR = {
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000D",
    "DS": "0",
    "IS": "0",
}


def _dummy(elem: DataElement, pseudonyms: Pseudonymiser) -> None:
    if elem.VR == "UI":
        elem.value = pseudonyms.uid(str(elem.value)) if elem.value else None
    elif elem.VR in _DUMMY_BY_VR:
        elem.value = _DUMMY_BY_VR[elem.VR]
    elif elem.VR in ("US", "SS", "UL", "SL", "FL", "FD"):
        elem.value = 0
    else:
        elem.value = None


def collect_identifiers(ds: Dataset) -> Identifiers:
    """Every identifying value of the source header at every depth (names, IDs, dates, address, phone).

    Raises
    ------
    UnreadableInstanceError
        If a value is shorter than its declared length (a truncated file).
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
                raise UnreadableInstanceError(f"truncated at {tag_label(tag)}")
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
                for v in _as_list(elem.value):
                    text = str(v).strip()
                    if text and text.upper() not in _HONORIFICS:
                        names.add(text)
            elif tag in _ID_TAGS:
                ids.update(s for s in (str(v).strip() for v in _as_list(elem.value)) if len(s) >= 4)
            elif tag == _PATIENT_BIRTH_DATE:
                births.add(str(elem.value).strip())
            elif tag in _ADDRESS_TAGS:
                addresses.update(str(v) for v in _as_list(elem.value))
            elif tag in _PHONE_TAGS:
                phones.update(str(v) for v in _as_list(elem.value))

    walk(ds)
    return Identifiers(
        frozenset(names), frozenset(ids), frozenset(births), frozenset(addresses), frozenset(phones)
    )


_IDENTIFIER_TAGS = _ID_TAGS | _ADDRESS_TAGS | _PHONE_TAGS | {_PATIENT_BIRTH_DATE}


def _collect_uids(ds: Dataset) -> frozenset[str]:
    keys = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
    return frozenset(str(ds.get(k)) for k in keys if ds.get(k))


def _new_file_meta(ds: Dataset, transfer_syntax: str | None) -> None:
    # A fresh meta header: the source's may name the sending AE or station.
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax) if transfer_syntax else ExplicitVRLittleEndian
    ds.file_meta = meta
