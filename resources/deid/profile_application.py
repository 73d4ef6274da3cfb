"""Where the PS3.15 table is applied: element by element, at every depth of a source dataset.

:class:`ProfileApplier` walks a dataset once, in place. For each public element it asks the
:class:`~resources.deid.profile.Profile` for the resolved :class:`~resources.deid.ps315_actions.Action`
and carries it out (dummy, zero length, remove, keep, clean, new UID, pseudonymise). Dates are shifted
by the patient's whole-day offset under Retain Longitudinal Temporal Information Modified Dates.
Sequences are removed, emptied or walked item by item; inside an SR Content Sequence kept by the
Clean Structured Content option each content item is cleaned by its concept. Private elements are
removed unless the Retain Safe Private allow-list names them. Text that is kept or cleaned is scrubbed
with the per-patient deny list (and the PHI scanner for free text); every replaced span is recorded
as a :class:`Finding`.

Elements are converted from raw bytes only when they are changed or searched: a raw element that is
kept is written back as it came, which is most of the time saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from resources.deid.coded_items import LOCAL_CODE_TEXT_TAGS, coding_scheme_of, is_local_scheme
from resources.deid.deny_list import DenyList
from resources.deid.element_values import (
    SINGLE_BYTE_CODECS,
    UTF8_CODECS,
    as_list,
    raw_text_values,
    raw_vr,
    text_codec,
)
from resources.deid.leak_check import STRUCTURAL_CODE_TAGS
from resources.deid.options import DeidOptions
from resources.deid.phi_scanner import PhiScanner
from resources.deid.profile import Profile
from resources.deid.ps315_actions import Action
from resources.deid.pseudonyms import Pseudonymiser
from resources.deid.replacement_values import DUMMY_BY_VR as _DUMMY_BY_VR
from resources.deid.replacement_values import replace_with_dummy, shift_dates, shifted_dates
from resources.deid.safe_private import SafePrivateElement
from resources.deid.sr_text_items import SrTextConcept, text_concept_of
from resources.deid.tag_paths import tag_label
from resources.deid.text_spans import merge_spans, replace_spans

# The actions compared for every element, bound once: on Python 3.11 reading a member off its enum
# class (Action.REMOVE) costs more than the comparison itself.
_DUMMY = Action.DUMMY
_ZERO = Action.ZERO
_REMOVE = Action.REMOVE
_KEEP = Action.KEEP
_CLEAN = Action.CLEAN
_NEW_UID = Action.NEW_UID
_PSEUDONYMISE = Action.PSEUDONYMISE
# Under whole-day date shifts a time of day is kept even where the table would clear it (dose timing).
_TIME_KEPT_DESPITE = frozenset({_DUMMY, _ZERO, _REMOVE, _CLEAN})

_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN", "AE", "UR"})
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
_CONTENT_SEQUENCE = 0x0040A730
_VALUE_TYPE = 0x0040A040
_TEXT_VALUE = 0x0040A160
_PERSON_NAME = 0x0040A123
_PATIENT_BIRTH_DATE = 0x00100030
_DUMMY_TEXT = "ANONYMIZED"


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


class WalkContext:
    """Per-instance state while walking: research SOP Instance UID, date shift, deny list, findings."""

    def __init__(self, sop_uid: str, shift_days: int | None, deny: DenyList) -> None:
        self.sop_uid = sop_uid
        self.shift_days = shift_days
        self.deny = deny
        self.findings: list[Finding] = []


class ProfileApplier:
    """Applies the profile and options in force to every element of a dataset, at every depth."""

    def __init__(
        self,
        options: DeidOptions,
        profile: Profile,
        pseudonyms: Pseudonymiser,
        scanner: PhiScanner,
        safe_private: dict[tuple[int, str, int], SafePrivateElement],
    ) -> None:
        self.options = options
        self.profile = profile
        self.pseudonyms = pseudonyms
        self.scanner = scanner
        self.safe_private = safe_private

    def apply(self, ds: Dataset, context: WalkContext) -> None:
        """De-identify ``ds`` in place; replaced spans go to ``context.findings``."""
        self._walk(ds, "", context, in_content_tree=False)

    def _walk(self, ds: Dataset, prefix: str, context: WalkContext, *, in_content_tree: bool) -> None:
        codec = text_codec(ds)
        if in_content_tree:
            self._clean_content_item(ds, prefix, context, codec)
        scheme = coding_scheme_of(ds)
        if scheme is not None and is_local_scheme(scheme):
            self._clean_local_code(ds, prefix, context)
        elements = ds._dict
        for tag in list(elements):
            tag_int = int(tag)
            if tag_int >> 16 & 1:
                self._private(ds, tag_int, prefix, context)
                continue
            vr = raw_vr(ds, tag)
            action = self.profile.action_for(tag_int, vr)
            if vr == "SQ":
                self._sequence(ds, ds[tag], action, prefix + tag_label(tag_int), context, in_content_tree)
                continue
            if context.shift_days is not None and vr in ("DA", "DT") and tag_int != _PATIENT_BIRTH_DATE:
                values = raw_text_values(ds, tag, codec)
                if values is not None and any(values):
                    elements[tag] = DataElement(tag, vr, shifted_dates(values, vr, context.shift_days))
                else:
                    shift_dates(ds[tag], context.shift_days)
                continue
            if context.shift_days is not None and vr == "TM" and action in _TIME_KEPT_DESPITE:
                continue  # whole-day shifts leave times of day unchanged (needed for dose timing)
            if action is None or action is _KEEP:
                # Coded values are never rewritten: a scheme designator "TEST" matching a surname must
                # not break the code (the leak check skips them for the same reason).
                if vr in _TEXT_VRS and tag_int not in STRUCTURAL_CODE_TAGS:
                    raw = elements[tag]
                    if isinstance(raw, RawDataElement) and _raw_text_is_clean(ds, raw, context.deny):
                        continue  # no identifier in the source bytes: written back as they came
                    path = prefix + tag_label(tag_int)
                    elem = ds[tag]
                    if elem.value and not self._scrub(elem, path, context, generic=False):
                        _restore_raw(ds, tag, raw)
                continue
            if action is _REMOVE:
                del elements[tag]
                continue
            raw_before = elements[tag]
            if (
                (action is _ZERO or (action is _DUMMY and vr in _DUMMY_BY_VR))
                and type(raw_before) is RawDataElement
                and vr == raw_before.VR
                and vr != "UN"  # pydicom's conversion may give it the dictionary VR: its way
            ):
                # The value is replaced whatever it was: no need to convert it first.
                elements[tag] = DataElement(tag, vr, None if action is _ZERO else _DUMMY_BY_VR[vr])
                continue
            if action is _CLEAN and vr in _TEXT_VRS:
                values = raw_text_values(ds, tag, codec)
                if values is not None and any(values):  # read without converting; replaced if changed
                    path = prefix + tag_label(tag_int)
                    scrubbed = self._scrub_values(values, path, context, generic=vr in _FREE_TEXT_VRS)
                    if scrubbed is not None:
                        elements[tag] = DataElement(tag, vr, _DUMMY_TEXT if vr == "PN" else scrubbed)
                    continue
            elem = ds[tag]
            if action is _ZERO:
                elem.value = None
            elif action is _DUMMY:
                replace_with_dummy(elem, self.pseudonyms)
            elif action is _NEW_UID:
                if vr == "UI" and elem.value:
                    elem.value = [self.pseudonyms.uid(str(v)) for v in as_list(elem.value)]
                    if len(elem.value) == 1:
                        elem.value = elem.value[0]
                elif vr != "UI":
                    replace_with_dummy(elem, self.pseudonyms)
            elif action is _CLEAN:
                generic = vr in _FREE_TEXT_VRS
                path = prefix + tag_label(tag_int)
                if vr in _TEXT_VRS and elem.value and not self._scrub(elem, path, context, generic=generic):
                    _restore_raw(ds, tag, raw_before)
            elif action is _PSEUDONYMISE and elem.value:
                elem.value = self.pseudonyms.value_pseudonym(f"device:{tag_int:08X}", str(elem.value))

    def _sequence(
        self,
        ds: Dataset,
        elem: DataElement,
        action: Action | None,
        path: str,
        context: WalkContext,
        in_tree: bool,
    ) -> None:
        if action is _REMOVE:
            del ds[elem.tag]
            return
        if action is _ZERO or action is _DUMMY:
            elem.value = Sequence([])
            return
        child_in_tree = in_tree or (int(elem.tag) == _CONTENT_SEQUENCE and action is _CLEAN)
        for index, item in enumerate(elem.value or []):
            self._walk(item, f"{path}[{index}].", context, in_content_tree=child_in_tree)

    def _clean_local_code(self, item: Dataset, prefix: str, context: WalkContext) -> None:
        """A code of a local scheme: its value and meaning were typed by a site, so they are scanned."""
        for tag in LOCAL_CODE_TEXT_TAGS:
            raw = item._dict.get(BaseTag(tag))
            if raw is None:
                continue
            elem = item[tag]
            if elem.value and not self._scrub(elem, prefix + tag_label(tag), context, generic=True):
                _restore_raw(item, tag, raw)

    def _clean_content_item(
        self, item: Dataset, prefix: str, context: WalkContext, codec: str | None
    ) -> None:
        """Clean Structured Content: keep the tree; clean PNAME items, and TEXT items by their concept."""
        if _VALUE_TYPE not in item._dict:
            return
        values = raw_text_values(item, _VALUE_TYPE, codec)
        value_type = values[0] if values and len(values) == 1 else str(item.get("ValueType", ""))
        if value_type == "PNAME" and _PERSON_NAME in item:
            item[_PERSON_NAME].value = _DUMMY_TEXT
            context.findings.append(
                Finding(context.sop_uid, prefix + tag_label(_PERSON_NAME), "PERSON", 1.0, "replaced")
            )
        elif value_type == "TEXT" and _TEXT_VALUE in item:
            elem = item[_TEXT_VALUE]
            if not elem.value:
                return
            path = prefix + tag_label(_TEXT_VALUE)
            concept = text_concept_of(item)
            if concept is None:
                self._scrub(elem, path, context, generic=True)
            else:
                self._clean_like_header(elem, concept, path, context)

    def _clean_like_header(
        self, elem: DataElement, concept: SrTextConcept, path: str, context: WalkContext
    ) -> None:
        """A TEXT item of a person, organisation, place or device: the header attribute's action applies.

        The item stays in the tree (its Text Value is Type 1), so remove and zero-length actions write
        the dummy; a pseudonym is the header's own (same purpose and value, so SR and header agree).
        """
        action = self.profile.action_for(concept.header_tag, concept.header_vr)
        value = str(elem.value)
        if action is None or action is _KEEP:
            self._scrub(elem, path, context, generic=False)
            return
        if action is _CLEAN:
            self._scrub(elem, path, context, generic=True)
            return
        if action is _PSEUDONYMISE:
            elem.value = self.pseudonyms.value_pseudonym(f"device:{concept.header_tag:08X}", value)
        elif action is _NEW_UID and _looks_like_uid(value):
            elem.value = self.pseudonyms.uid(value.strip())
        else:
            elem.value = _DUMMY_TEXT
        context.findings.append(Finding(context.sop_uid, path, concept.entity, 1.0, "replaced"))

    def _private(self, ds: Dataset, tag: int, prefix: str, context: WalkContext) -> None:
        """Retain Safe Private: keep an allow-listed private element (text scrubbed), remove the rest."""
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

    def _scrub(self, elem: DataElement, path: str, context: WalkContext, *, generic: bool) -> bool:
        """Replace identifier spans in a text element's values; True when the value changed."""
        scrubbed = self._scrub_values([str(v) for v in as_list(elem.value)], path, context, generic=generic)
        if scrubbed is None:
            return False
        elem.value = _DUMMY_TEXT if elem.VR == "PN" else scrubbed
        return True

    def _scrub_values(
        self, values: list[str], path: str, context: WalkContext, *, generic: bool
    ) -> str | list[str] | None:
        """The values with identifier spans replaced (one string for one value); None when none changed."""
        changed = False
        out = []
        for text in values:
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
        if not changed:
            return None
        return out if len(out) > 1 else out[0]


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
    if codecs[0] in SINGLE_BYTE_CODECS:
        text = value.decode("latin-1")
        if codecs[0] == "ascii" and not text.isascii():
            return False
    elif codecs[0] in UTF8_CODECS:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return False  # the conversion reports it (quarantine)
    else:
        return False
    return not deny.find(text)


def _looks_like_uid(value: str) -> bool:
    text = value.strip()
    return 0 < len(text) <= 64 and all(part.isdigit() for part in text.split("."))


def _restore_raw(ds: Dataset, tag: int, raw: DataElement | RawDataElement) -> None:
    """Put back the source bytes of a text element the scrub left unchanged (written as they came)."""
    if isinstance(raw, RawDataElement):
        ds._dict[BaseTag(tag)] = raw
