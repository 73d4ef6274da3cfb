"""The de-identification engine: one source dataset or file in, a research dataset (or a reason) out.

Order of work for one instance: read (bad input -> quarantined; a data set without its Part 10 meta
header is read when it is one, ``source_reading``), give UN values their dictionary VR, collect the
source identifiers (``identifier_collection``; a truncated or misframed value -> quarantined),
opt-out (-> opted_out, nothing written), burned-in pixel screen (-> quarantined unless allowed),
apply the PS3.15 profile and options at every depth and scrub the text that survives
(``profile_application``), mark the object, encode it, then search the output for every source
identifier (``leak_check``; any hit -> quarantined).

Results never carry source values: reasons name the file or tag and what was wrong; findings are
(pseudonymised SOP Instance UID, tag path, entity type, score, action).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian

from resources.deid.arrival import SourceMoment, source_moment
from resources.deid.deny_list import deny_list_for
from resources.deid.element_values import as_list
from resources.deid.encoder import encode_file
from resources.deid.errors import UnreadableInstanceError
from resources.deid.identifier_collection import collect_identifiers, collect_source_uids
from resources.deid.leak_check import LeakHit, encoded_may_leak, find_leaks
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import PhiScanner
from resources.deid.profile import Profile
from resources.deid.profile_application import Finding, ProfileApplier, WalkContext
from resources.deid.pseudonyms import Pseudonymiser
from resources.deid.safe_private import SafePrivateElement, load_safe_private
from resources.deid.source_reading import decode_un_elements, read_headerless
from resources.deid.vault import Vault

logger = logging.getLogger(__name__)

Outcome = Literal["deidentified", "quarantined", "opted_out"]

_SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_PIXEL_DATA = 0x7FE00010
# What _mark writes (PS3.15 E.1-1 and X.1): Patient's Name and ID, Patient Identity Removed,
# De-identification Method and its Code Sequence, Longitudinal Temporal Information Modified.
_PATIENT_NAME = BaseTag(0x00100010)
_PATIENT_ID = BaseTag(0x00100020)
_ISSUER_OF_PATIENT_ID = BaseTag(0x00100021)
_IDENTITY_REMOVED = BaseTag(0x00120062)
_METHOD = BaseTag(0x00120063)
_METHOD_CODES = BaseTag(0x00120064)
_LONGITUDINAL = BaseTag(0x00280303)
_CODE_VALUE = BaseTag(0x00080100)
_CODING_SCHEME = BaseTag(0x00080102)
_CODE_MEANING = BaseTag(0x00080104)
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
    # The source's Instance Creation Date and Time (YYYYMMDDHHMMSS.FFFFFF, "" when absent) and file size:
    # they choose between two inputs with the same SOP Instance UID and are never written anywhere.
    source_created: str = ""
    source_bytes: int = 0
    # The source acquisition moment (before date shifting), for the arrival delay (``arrival``).
    source_acquired: SourceMoment | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


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
        self._method_codes = tuple(options.method_codes())
        self.applier = ProfileApplier(options, self.profile, self.pseudonyms, self.scanner, self.safe_private)

    @property
    def profile_version(self) -> str:
        """Names the table edition, the options and the site choices in force (warehouse lineage, whole)."""
        names = self.options.enabled() + self.options.site_choices()
        return f"ps315-{self.profile.edition}:" + ",".join(names)

    # -- files ------------------------------------------------------------------------------------
    def read(self, path: Path) -> Dataset:
        """Read a source file strictly enough to refuse what cannot be trusted.

        A file without a Part 10 meta header is read as a bare data set when it is one
        (:func:`~resources.deid.source_reading.read_headerless`).

        Raises
        ------
        UnreadableInstanceError
            Naming the file and the reason (not DICOM, undecodable); truncation is found while
            de-identifying (values are read lazily).
        """
        name = Path(path).name
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ds: Dataset
                try:
                    ds = pydicom.dcmread(path)
                except InvalidDicomError:
                    ds = read_headerless(Path(path))
        except UnreadableInstanceError:
            raise
        except Exception as exc:  # pydicom raises many types for damaged input
            raise UnreadableInstanceError(f"{name}: unreadable DICOM ({type(exc).__name__})") from exc
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
        result = self.deidentify(ds, name=name)
        result.source_bytes = Path(path).stat().st_size
        return result

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
        # UN values first: a name, date or description the profile and the collection could not read
        # as what it is would be emptied instead of shifted, or kept instead of scrubbed.
        decode_un_elements(ds)
        # Then, before any value is read: the collection's walk finds truncated values only in elements
        # pydicom has not converted yet (a cut Patient ID read for the opt-out check would go unseen).
        identifiers = collect_identifiers(ds)
        source_uids = collect_source_uids(ds)
        source_created = _creation_time(ds)
        source_acquired = source_moment(ds)
        patient_id = str(ds.get("PatientID", "") or "").strip()
        issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
        if self.opt_out_ids and self._opted_out(ds, patient_id):
            return DeidResult("opted_out", name, reasons=[f"{name}: patient opted out"])

        burned_in_reason = self._burned_in_reason(ds, name)
        if burned_in_reason and not self.options.allow_burned_in_pixels:
            return DeidResult("quarantined", name, reasons=[burned_in_reason], burned_in=True)

        first_stage = self.pseudonyms.first_stage_pseudonym(patient_id, issuer)
        pseudonym = self.pseudonyms.patient_pseudonym(patient_id, issuer)
        shift = (
            self.pseudonyms.date_shift_days(patient_id, issuer)
            if self.options.retain_modified_dates
            else None
        )
        sop_uid = self.pseudonyms.uid(str(ds.SOPInstanceUID))
        deny = deny_list_for(identifiers, scrub_institutions=not self.options.retain_institution_identity)
        context = WalkContext(sop_uid, shift, deny)

        transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        self.applier.apply(ds, context)
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
            source_created=source_created,
            source_acquired=source_acquired,
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
        if others and any(str(v).strip() in self.opt_out_ids for v in as_list(others)):
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

    # -- marking ------------------------------------------------------------------------------------
    def _mark(self, ds: Dataset, pseudonym: str) -> None:
        # Elements are built by tag and VR: setting them by keyword costs a dictionary search and a
        # conversion of the source element each, about a twentieth of an instance's whole time.
        _put(ds, _PATIENT_NAME, "PN", pseudonym)
        _put(ds, _PATIENT_ID, "LO", pseudonym)
        ds._dict.pop(_ISSUER_OF_PATIENT_ID, None)
        _put(ds, _IDENTITY_REMOVED, "CS", "YES")
        _put(ds, _METHOD, "LO", f"dicom-lake PS3.15 E.1-1 {self.profile.edition}"[:64])
        codes = Sequence(
            [
                Dataset(
                    {
                        _CODE_VALUE: DataElement(_CODE_VALUE, "SH", value),
                        _CODING_SCHEME: DataElement(_CODING_SCHEME, "SH", "DCM"),
                        _CODE_MEANING: DataElement(_CODE_MEANING, "LO", meaning),
                    }
                )
                for value, meaning in self._method_codes
            ]
        )
        if _METHOD_CODES in ds._dict:  # a source de-identified before: its element (and length form) stays
            ds[_METHOD_CODES].value = codes
        else:
            ds[_METHOD_CODES] = DataElement(_METHOD_CODES, "SQ", codes)
        _put(ds, _LONGITUDINAL, "CS", "MODIFIED" if self.options.retain_modified_dates else "REMOVED")


def _put(ds: Dataset, tag: BaseTag, vr: str, value: str) -> None:
    """Set a public element's value as ``setattr`` would, without converting the source element first.

    A source element of another VR keeps it (``setattr`` changes only the value), so that case takes
    pydicom's way.
    """
    existing = ds._dict.get(tag)
    if existing is not None and existing.VR not in (vr, None):
        ds[tag].value = value
    else:
        ds._dict[tag] = DataElement(tag, vr, value)


def _creation_time(ds: Dataset) -> str:
    """Instance Creation Date and Time as one sortable string ("" without a date)."""
    date = str(ds.get("InstanceCreationDate", "") or "").strip()
    if not date:
        return ""
    time_of_day = str(ds.get("InstanceCreationTime", "") or "").strip().replace(":", "")
    return date + time_of_day


def _raise_on_untrusted(name: str, caught: list[warnings.WarningMessage]) -> None:
    """Refuse an instance when pydicom warned that its bytes cannot be trusted.

    Raises
    ------
    UnreadableInstanceError
        Naming the instance and the warning's category (never its text, which may quote a value).
    """
    for warning in caught:
        text = str(warning.message).lower()
        if any(word in text for word in _UNTRUSTED_WARNING_WORDS):
            raise UnreadableInstanceError(
                f"{name}: damaged or undecodable content ({warning.category.__name__})"
            )


def _new_file_meta(ds: Dataset, transfer_syntax: str | None) -> None:
    # A fresh meta header: the source's may name the sending AE or station.
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax) if transfer_syntax else ExplicitVRLittleEndian
    ds.file_meta = meta
