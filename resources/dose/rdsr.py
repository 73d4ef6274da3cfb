"""Reader for the CT Radiation Dose SR: PS3.16 TID 10011 "CT Radiation Dose" with its sub-templates.

Implements reading of

* TID 10011 CT Radiation Dose (PS3.16 A.35.8.1 in the 2024 editions, "X-Ray Radiation Dose SR IOD
  Templates"): root container (DCM 113701), procedure reported, observer context, irradiation times;
* TID 10012 CT Accumulated Dose Data (DCM 113811);
* TID 10013 CT Irradiation Event Data (DCM 113819), one per irradiation event;
* TID 10014 Scanning Length (DCM 113825, 113893);
* TID 10015 CT Dose Check Details (DCM 113900 alert / 113908 notification).

The same template carried in an Enhanced SR (GE scanners before RDSR support) or a Comprehensive SR is
read the same way. Concepts are matched on code value + scheme (:mod:`resources.dose.codes`).

Real vendor files are not conformant in known ways; this reader tolerates them and says so in the
result's flags rather than silently "fixing" numbers:

* units spelt differently (``mGycm``, ``mGy.cm``) are normalised; unknown units are flagged;
* a missing CT Dose container (scouts/localisers) gives CTDIvol/DLP ``None`` (absent), never 0;
* numbers with trailing zeros are read as decimals; an invalid number (``"10.50/ 15.00"``) keeps its
  event, the value becomes ``None`` and the raw text is kept in ``invalid_values`` with a flag;
* a character set declared as ISO_IR 100 (or none) while the bytes are UTF-8 is decoded as UTF-8 and
  flagged ``charset_declared_latin1_stored_utf8``.

A DICOM file that is not a CT dose report (an image, a projection X-ray or mammography dose SR, a
non-dose Enhanced SR) raises :class:`~resources.dose.errors.NotADoseReportError` after looking only at
its header and root concept: nothing is half-parsed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag

from resources import sop_classes
from resources.dose import codes, sr_items
from resources.dose.codes import AcquisitionType, Code, Phantom
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.sr_items import Item, sequence_of

logger = logging.getLogger(__name__)

# Tags read as raw elements (decoding ourselves is faster than pydicom's value conversion and lets an
# invalid DS survive as text).
_VALUE_TYPE = sr_items.VALUE_TYPE
_CONCEPT_NAME = sr_items.CONCEPT_NAME
_CONCEPT_CODE = sr_items.CONCEPT_CODE
_CODE_VALUE = sr_items.CODE_VALUE
_SCHEME = sr_items.SCHEME
_MEANING = sr_items.MEANING
_LONG_CODE_VALUE = sr_items.LONG_CODE_VALUE
_URN_CODE_VALUE = sr_items.URN_CODE_VALUE
_TEXT_VALUE = sr_items.TEXT_VALUE
_UID_VALUE = sr_items.UID_VALUE
_DATETIME_VALUE = sr_items.DATETIME_VALUE
_MEASURED_VALUE = sr_items.MEASURED_VALUE
_NUMERIC_VALUE = sr_items.NUMERIC_VALUE
_UNITS = sr_items.UNITS
_CONTENT_SEQUENCE = sr_items.CONTENT_SEQUENCE
_SPECIFIC_CHARSET = BaseTag(0x00080005)

_LATIN1_CHARSETS = {"", "ISO_IR 100", "ISO 2022 IR 100", "ISO_IR 6"}
_PYTHON_CODECS = {
    "ISO_IR 100": "latin-1",
    "ISO 2022 IR 100": "latin-1",
    "ISO_IR 192": "utf-8",
    "ISO_IR 6": "ascii",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 148": "iso8859_9",
    "GB18030": "gb18030",
}

CHARSET_MISMATCH_FLAG = "charset_declared_latin1_stored_utf8"


# ---------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XraySourceParameters:
    """One CT X-Ray Source Parameters container (DCM 113831): two per event on a dual-source scanner."""

    source_id: str | None
    kvp: float | None
    tube_current_ma: float | None
    maximum_tube_current_ma: float | None
    exposure_time_per_rotation_s: float | None


@dataclass(frozen=True, slots=True)
class DoseCheckDetails:
    """TID 10015: a dose-check alert (DCM 113900) or notification (DCM 113908) attached to an event.

    The free-text reason for proceeding and the person who authorised it are not kept (privacy): only
    whether a reason was given.
    """

    kind: str  # "alert" | "notification"
    dlp_value_configured: bool | None
    ctdivol_value_configured: bool | None
    dlp_threshold: float | None
    ctdivol_threshold: float | None
    dlp_forward_estimate: float | None
    ctdivol_forward_estimate: float | None
    reason_given: bool


@dataclass(frozen=True, slots=True)
class CtIrradiationEvent:
    """TID 10013 CT Irradiation Event Data: one CT Acquisition container (DCM 113819)."""

    irradiation_event_uid: str | None
    acquisition_protocol: str | None
    target_region: Code | None
    target_region_meaning: str | None
    acquisition_type: AcquisitionType | None
    start_datetime: dt.datetime | None
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: Phantom | None
    scanning_length_mm: float | None
    reconstructable_length_mm: float | None
    exposure_time_s: float | None
    nominal_single_collimation_mm: float | None
    nominal_total_collimation_mm: float | None
    pitch_factor: float | None
    number_of_xray_sources: int | None
    sources: tuple[XraySourceParameters, ...]
    ssde_mgy: float | None
    water_equivalent_diameter_mm: float | None
    effective_dose_msv_reported: float | None
    dose_checks: tuple[DoseCheckDetails, ...]
    has_dose_container: bool
    flags: tuple[str, ...] = ()
    invalid_values: dict[str, str] = field(default_factory=dict)

    @property
    def kvp(self) -> float | None:
        return self.sources[0].kvp if self.sources else None

    @property
    def tube_current_ma(self) -> float | None:
        return self.sources[0].tube_current_ma if self.sources else None


@dataclass(frozen=True, slots=True)
class DeviceObserver:
    """Device observer context (TID 1004) of the report."""

    uid: str | None
    name: str | None
    manufacturer: str | None
    model_name: str | None
    serial_number: str | None


@dataclass(frozen=True, slots=True)
class CtAccumulatedDose:
    """TID 10012 CT Accumulated Dose Data as the report states it."""

    total_number_of_events: int | None
    dlp_total_mgycm: float | None
    effective_dose_total_msv: float | None


@dataclass(frozen=True, slots=True)
class CtDoseReport:
    """What one CT dose SR file says (TID 10011). Header fields are those of the (de-identified) file."""

    source: str
    document_type: str  # "xray_radiation_dose_sr" | "enhanced_sr" | "comprehensive_sr"
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    study_date: dt.date | None
    patient_id: str | None  # research-zone pseudonym once de-identified; never printed or logged
    patient_age: str | None
    patient_sex: str | None
    patient_weight_kg: float | None
    manufacturer: str | None
    model_name: str | None
    station_name: str | None
    study_description: str | None
    device_observer: DeviceObserver
    start_of_xray_irradiation: dt.datetime | None
    end_of_xray_irradiation: dt.datetime | None
    accumulated: CtAccumulatedDose
    events: tuple[CtIrradiationEvent, ...]
    flags: tuple[str, ...] = ()

    @property
    def dlp_total_from_events(self) -> float:
        """Sum of the events' DLP (absent DLPs count as nothing, not as an error)."""
        return math.fsum(e.dlp_mgycm for e in self.events if e.dlp_mgycm is not None)


# ---------------------------------------------------------------------------------------------------
# Low-level content item access
# ---------------------------------------------------------------------------------------------------


class _Decoder:
    """Decodes raw text values with the file's declared character set, detecting UTF-8 in latin-1 files."""

    def __init__(self, declared: str) -> None:
        self.declared = declared
        self.codec = _PYTHON_CODECS.get(declared, "latin-1")
        self.may_lie = declared in _LATIN1_CHARSETS
        self.mismatch_seen = False

    def text(self, raw: Any) -> str:
        if isinstance(raw, str):
            if self.may_lie and not raw.isascii():
                # Already decoded (by pydicom) with the declared latin-1: undo it to see the bytes.
                try:
                    return self.text(raw.encode("latin-1"))
                except UnicodeEncodeError:
                    return raw.strip(" \x00")
            return raw.strip(" \x00")
        if not isinstance(raw, bytes | bytearray):
            return str(raw).strip()
        data = bytes(raw).rstrip(b" \x00")
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            pass
        if self.may_lie:
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError:
                return data.decode(self.codec, errors="replace")
            self.mismatch_seen = True
            return value
        return data.decode(self.codec, errors="replace")


def _raw(item: Item, tag: int) -> Any:
    """The raw value of a non-sequence element, or None."""
    return item.get(tag)


def _ascii(item: Item, tag: int) -> str | None:
    value = item.get(tag)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = str(value).strip(" \x00")
    return text or None


def _sequence(item: Item, tag: int) -> list[Item]:
    value = item.get(tag)
    return value if isinstance(value, list) else []


def _header(ds: Dataset, tag: int) -> Any:
    """A top-level attribute's raw value (bytes until pydicom converts it), or None."""
    if tag not in ds:
        return None
    element = ds.get_item(tag)
    return None if element is None else element.value


def _header_ascii(ds: Dataset, tag: int) -> str | None:
    value = _header(ds, tag)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = str(value).strip(" \x00")
    return text or None


_CODE_CACHE: dict[tuple[Any, Any, Any, Any], Code | None] = {}
_CODE_CACHE_LIMIT = 50_000


def _code_of(code_item: Item) -> Code | None:
    # Coded concepts repeat across every report: decode each spelling once.
    key = (
        code_item.get(_CODE_VALUE),
        code_item.get(_LONG_CODE_VALUE),
        code_item.get(_URN_CODE_VALUE),
        code_item.get(_SCHEME),
    )
    try:
        return _CODE_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable value from an unusual in-memory dataset
        return _decode_code(code_item)
    code = _decode_code(code_item)
    if len(_CODE_CACHE) >= _CODE_CACHE_LIMIT:
        _CODE_CACHE.clear()
    _CODE_CACHE[key] = code
    return code


def _decode_code(code_item: Item) -> Code | None:
    value = (
        _ascii(code_item, _CODE_VALUE)
        or _ascii(code_item, _LONG_CODE_VALUE)
        or _ascii(code_item, _URN_CODE_VALUE)
    )
    scheme = _ascii(code_item, _SCHEME)
    if value is None:
        return None
    return Code(value, (scheme or "").upper())


def _first_code(item: Item, tag: int) -> Code | None:
    seq = _sequence(item, tag)
    return _code_of(seq[0]) if seq else None


def _meaning(item: Item, tag: int, decoder: _Decoder) -> str | None:
    seq = _sequence(item, tag)
    if not seq:
        return None
    raw = _raw(seq[0], _MEANING)
    return decoder.text(raw) if raw is not None else None


@dataclass(slots=True)
class _Node:
    value_type: str
    concept: Code | None
    item: Item


_VALUE_TYPES: dict[Any, str] = {}


def _value_type(item: Item) -> str:
    raw = item.get(_VALUE_TYPE)
    try:
        return _VALUE_TYPES[raw]
    except KeyError:
        text = _ascii(item, _VALUE_TYPE) or ""
        if len(_VALUE_TYPES) < 256:
            _VALUE_TYPES[raw] = text
        return text
    except TypeError:
        return _ascii(item, _VALUE_TYPE) or ""


def _children(item: Item) -> Iterator[_Node]:
    for child in _sequence(item, _CONTENT_SEQUENCE):
        names = child.get(_CONCEPT_NAME)
        yield _Node(_value_type(child), _code_of(names[0]) if names else None, child)


@dataclass(slots=True)
class _Number:
    value: float | None
    unit: str | None
    raw: str


def _number(node: _Node, decoder: _Decoder) -> _Number | None:
    """A NUM content item's value in its canonical unit; ``None`` when it has no measured value."""
    measured = _sequence(node.item, _MEASURED_VALUE)
    if not measured:
        return None
    raw_value = _raw(measured[0], _NUMERIC_VALUE)
    if raw_value is None:
        return None
    raw = decoder.text(raw_value) if not isinstance(raw_value, int | float) else str(raw_value)
    unit_code = _first_code(measured[0], _UNITS)
    unit_text = unit_code.value if unit_code else None
    factor = 1.0
    unit: str | None = unit_text
    if unit_text is not None:
        alias = codes.UNIT_ALIASES.get(unit_text.strip().lower())
        if alias is not None:
            unit, factor = alias
    try:
        value = float(raw.replace(",", ".")) if raw.count(",") == 1 and "." not in raw else float(raw)
    except ValueError:
        return _Number(None, unit, raw)
    if not math.isfinite(value):
        return _Number(None, unit, raw)
    return _Number(value * factor, unit, raw)


def _parse_datetime(text: str | None) -> dt.datetime | None:
    """A DICOM DT value (timezone offsets dropped; the research zone's times are shifted anyway)."""
    if not text:
        return None
    core = text.strip()
    for sign in ("+", "-"):
        if sign in core[8:]:
            core = core[: 8 + core[8:].index(sign)]
    fraction = 0
    if "." in core:
        core, frac = core.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())[:6]
        fraction = int(digits.ljust(6, "0")) if digits else 0
    if len(core) < 8 or not core[:14].isdigit():
        return None
    core = core.ljust(14, "0")
    try:  # int slicing: strptime costs more than the rest of an event together
        return dt.datetime(
            int(core[0:4]),
            int(core[4:6]),
            int(core[6:8]),
            int(core[8:10]),
            int(core[10:12]),
            min(int(core[12:14]), 59),
            fraction,
        )
    except ValueError:
        return None


def _parse_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    digits = text.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------
# Document classification
# ---------------------------------------------------------------------------------------------------

_DOCUMENT_TYPES = {
    sop_classes.XRAY_RADIATION_DOSE_SR: "xray_radiation_dose_sr",
    sop_classes.ENHANCED_SR: "enhanced_sr",
    sop_classes.COMPREHENSIVE_SR: "comprehensive_sr",
    sop_classes.COMPREHENSIVE_3D_SR: "comprehensive_3d_sr",
}


def classify_document(ds: Dataset) -> tuple[str, str | None]:
    """Say what kind of document a dataset is, looking only at its header and root concept.

    Returns
    -------
    tuple
        ``(document_type, reason)``; ``reason`` is None for a CT dose report and otherwise says why the
        file is not one. Document types: ``xray_radiation_dose_sr``, ``enhanced_sr``,
        ``comprehensive_sr`` (CT dose reports) and ``not_sr``, ``radiopharmaceutical_dose_sr``,
        ``projection_xray_dose_sr``, ``mammography_dose_sr``, ``sr_without_dose_template``.
    """
    return _classify(_header_ascii(ds, 0x00080016) or "", _root_item(ds))


def _root_item(ds: Dataset) -> Item:
    """The document's root concept and content tree as items (the content tree parsed once, here)."""
    return {
        _CONCEPT_NAME: sequence_of(ds, _CONCEPT_NAME),
        _CONTENT_SEQUENCE: sequence_of(ds, _CONTENT_SEQUENCE),
    }


def _classify(sop_class: str, root_item: Item) -> tuple[str, str | None]:
    if sop_class == sop_classes.RADIOPHARMACEUTICAL_RADIATION_DOSE_SR:
        return "radiopharmaceutical_dose_sr", "radiopharmaceutical dose SR (TID 10021), not CT"
    if sop_class not in sop_classes.DOSE_CAPABLE_SOP_CLASSES:
        return "not_sr", f"SOP class {sop_class or 'missing'} cannot carry TID 10011"
    root = _first_code(root_item, _CONCEPT_NAME)
    if root != codes.XRAY_RADIATION_DOSE_REPORT:
        return "sr_without_dose_template", f"root concept {root} is not X-Ray Radiation Dose Report (113701)"
    has_ct_event = False
    procedure: Code | None = None
    for node in _children(root_item):
        if node.concept == codes.PROCEDURE_REPORTED:
            procedure = _first_code(node.item, _CONCEPT_CODE)
        elif node.concept == codes.CT_ACQUISITION or node.concept == codes.CT_ACCUMULATED_DOSE_DATA:
            has_ct_event = True
    if procedure in codes.COMPUTED_TOMOGRAPHY_PROCEDURES or has_ct_event:
        return _DOCUMENT_TYPES[sop_class], None
    if procedure in codes.MAMMOGRAPHY_PROCEDURES:
        return "mammography_dose_sr", "mammography dose SR (TID 10001/10003), not CT"
    return "projection_xray_dose_sr", f"procedure reported {procedure} is not CT and no CT event is present"


# ---------------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------------


class _EventBuilder:
    """Collects one CT Acquisition container's items into a :class:`CtIrradiationEvent`."""

    def __init__(self, decoder: _Decoder) -> None:
        self.decoder = decoder
        self.values: dict[str, Any] = {}
        self.flags: list[str] = []
        self.invalid: dict[str, str] = {}
        self.sources: list[XraySourceParameters] = []
        self.dose_checks: list[DoseCheckDetails] = []
        self.has_dose_container = False

    def number(self, name: str, node: _Node, expected_unit: str | None) -> None:
        number = _number(node, self.decoder)
        if number is None:
            return
        if number.value is None:
            self.invalid[name] = number.raw
            self.flags.append(f"invalid_number:{name}")
            return
        if expected_unit is not None and number.unit != expected_unit:
            self.flags.append(f"unexpected_unit:{name}:{number.unit}")
        self.values[name] = number.value

    def build(self) -> CtIrradiationEvent:
        v = self.values
        if not self.has_dose_container:
            self.flags.append("no_ct_dose_container")
        count = v.get("number_of_xray_sources")
        return CtIrradiationEvent(
            irradiation_event_uid=v.get("irradiation_event_uid"),
            acquisition_protocol=v.get("acquisition_protocol"),
            target_region=v.get("target_region"),
            target_region_meaning=v.get("target_region_meaning"),
            acquisition_type=v.get("acquisition_type"),
            start_datetime=v.get("start_datetime"),
            ctdivol_mgy=v.get("ctdivol"),
            dlp_mgycm=v.get("dlp"),
            phantom=v.get("phantom"),
            scanning_length_mm=v.get("scanning_length"),
            reconstructable_length_mm=v.get("reconstructable_length"),
            exposure_time_s=v.get("exposure_time"),
            nominal_single_collimation_mm=v.get("nominal_single_collimation"),
            nominal_total_collimation_mm=v.get("nominal_total_collimation"),
            pitch_factor=v.get("pitch_factor"),
            number_of_xray_sources=int(count) if count is not None else None,
            sources=tuple(self.sources),
            ssde_mgy=v.get("ssde"),
            water_equivalent_diameter_mm=v.get("water_equivalent_diameter"),
            effective_dose_msv_reported=v.get("effective_dose"),
            dose_checks=tuple(self.dose_checks),
            has_dose_container=self.has_dose_container,
            flags=tuple(self.flags),
            invalid_values=dict(self.invalid),
        )


def _check_other(node: _Node, builder: _EventBuilder) -> None:
    """Items this reader does not use (vendor extras): an invalid number there is still flagged."""
    if node.value_type == "NUM":
        number = _number(node, builder.decoder)
        if number is not None and number.value is None:
            builder.invalid[f"other:{node.concept}"] = number.raw
            builder.flags.append(f"invalid_number:other:{node.concept.value if node.concept else '?'}")
    if _CONTENT_SEQUENCE in node.item:
        for child in _children(node.item):
            _check_other(child, builder)


_PARAMETER_NUMBERS: dict[Code, tuple[str, str | None]] = {
    codes.EXPOSURE_TIME: ("exposure_time", "s"),
    codes.SCANNING_LENGTH: ("scanning_length", "mm"),
    codes.LENGTH_OF_RECONSTRUCTABLE_VOLUME: ("reconstructable_length", "mm"),
    codes.NOMINAL_SINGLE_COLLIMATION_WIDTH: ("nominal_single_collimation", "mm"),
    codes.NOMINAL_TOTAL_COLLIMATION_WIDTH: ("nominal_total_collimation", "mm"),
    codes.PITCH_FACTOR: ("pitch_factor", "1"),
    codes.NUMBER_OF_XRAY_SOURCES: ("number_of_xray_sources", None),
}
_DOSE_NUMBERS: dict[Code, tuple[str, str | None]] = {
    codes.MEAN_CTDIVOL: ("ctdivol", "mGy"),
    codes.DLP: ("dlp", "mGy.cm"),
    codes.EFFECTIVE_DOSE: ("effective_dose", "mSv"),
    codes.SIZE_SPECIFIC_DOSE_ESTIMATE: ("ssde", "mGy"),
    codes.WATER_EQUIVALENT_DIAMETER: ("water_equivalent_diameter", "mm"),
}


def _read_source(node: _Node, builder: _EventBuilder) -> None:
    values: dict[str, float] = {}
    source_id: str | None = None
    names = {
        codes.KVP: "kvp",
        codes.XRAY_TUBE_CURRENT: "tube_current",
        codes.MAXIMUM_XRAY_TUBE_CURRENT: "maximum_tube_current",
        codes.EXPOSURE_TIME_PER_ROTATION: "exposure_time_per_rotation",
    }
    for child in _children(node.item):
        if child.concept == codes.IDENTIFICATION_OF_XRAY_SOURCE:
            raw = _raw(child.item, _TEXT_VALUE)
            source_id = builder.decoder.text(raw) if raw is not None else None
        elif child.concept in names:
            name = names[child.concept]
            number = _number(child, builder.decoder)
            if number is None:
                continue
            if number.value is None:
                builder.invalid[f"{name}[{len(builder.sources)}]"] = number.raw
                builder.flags.append(f"invalid_number:{name}")
            else:
                values[name] = number.value
    builder.sources.append(
        XraySourceParameters(
            source_id=source_id,
            kvp=values.get("kvp"),
            tube_current_ma=values.get("tube_current"),
            maximum_tube_current_ma=values.get("maximum_tube_current"),
            exposure_time_per_rotation_s=values.get("exposure_time_per_rotation"),
        )
    )


def _yes_no(node: _Node) -> bool | None:
    code = _first_code(node.item, _CONCEPT_CODE)
    if code is None:
        return None
    return code in codes.YES_CODES


def _read_dose_check(node: _Node, kind: str, builder: _EventBuilder) -> None:
    alert = kind == "alert"
    configured_dlp = codes.DLP_ALERT_VALUE_CONFIGURED if alert else codes.DLP_NOTIFICATION_VALUE_CONFIGURED
    configured_ctdi = (
        codes.CTDIVOL_ALERT_VALUE_CONFIGURED if alert else codes.CTDIVOL_NOTIFICATION_VALUE_CONFIGURED
    )
    numbers = {
        (codes.DLP_ALERT_VALUE if alert else codes.DLP_NOTIFICATION_VALUE): "dlp_threshold",
        (codes.CTDIVOL_ALERT_VALUE if alert else codes.CTDIVOL_NOTIFICATION_VALUE): "ctdivol_threshold",
        (codes.ACCUMULATED_DLP_FORWARD_ESTIMATE if alert else codes.DLP_FORWARD_ESTIMATE): "dlp_forward",
        (
            codes.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE if alert else codes.CTDIVOL_FORWARD_ESTIMATE
        ): "ctdivol_forward",
    }
    flags: dict[str, bool | None] = {"dlp": None, "ctdivol": None}
    values: dict[str, float] = {}
    reason_given = False
    for child in _children(node.item):
        if child.concept == configured_dlp:
            flags["dlp"] = _yes_no(child)
        elif child.concept == configured_ctdi:
            flags["ctdivol"] = _yes_no(child)
        elif child.concept == codes.REASON_FOR_PROCEEDING:
            reason_given = bool(_raw(child.item, _TEXT_VALUE))
        elif child.concept in numbers:
            number = _number(child, builder.decoder)
            if number is not None and number.value is not None:
                values[numbers[child.concept]] = number.value
    builder.dose_checks.append(
        DoseCheckDetails(
            kind=kind,
            dlp_value_configured=flags["dlp"],
            ctdivol_value_configured=flags["ctdivol"],
            dlp_threshold=values.get("dlp_threshold"),
            ctdivol_threshold=values.get("ctdivol_threshold"),
            dlp_forward_estimate=values.get("dlp_forward"),
            ctdivol_forward_estimate=values.get("ctdivol_forward"),
            reason_given=reason_given,
        )
    )
    # The container is written whenever the scanner ran its dose check; it only matters to a
    # physicist when a configured level was reached (forward estimate at or above it) or an operator
    # had to give a reason to proceed.
    reached = any(
        estimate is not None and threshold is not None and estimate >= threshold
        for estimate, threshold in (
            (values.get("dlp_forward"), values.get("dlp_threshold")),
            (values.get("ctdivol_forward"), values.get("ctdivol_threshold")),
        )
    )
    if reached or reason_given:
        builder.flags.append(f"dose_check_{kind}_reached")


def _read_ct_dose(node: _Node, builder: _EventBuilder) -> None:
    builder.has_dose_container = True
    for child in _children(node.item):
        concept = child.concept
        if concept in _DOSE_NUMBERS:
            name, unit = _DOSE_NUMBERS[concept]
            builder.number(name, child, unit)
        elif concept == codes.CTDIW_PHANTOM_TYPE:
            code = _first_code(child.item, _CONCEPT_CODE)
            phantom = codes.PHANTOM_CODES.get(code) if code else None
            if phantom is None:
                builder.flags.append(f"unknown_phantom:{code}")
            builder.values["phantom"] = phantom
        elif concept == codes.DOSE_CHECK_ALERT_DETAILS:
            _read_dose_check(child, "alert", builder)
        elif concept == codes.DOSE_CHECK_NOTIFICATION_DETAILS:
            _read_dose_check(child, "notification", builder)
        else:
            _check_other(child, builder)


def _read_parameters(node: _Node, builder: _EventBuilder) -> None:
    for child in _children(node.item):
        concept = child.concept
        if concept in _PARAMETER_NUMBERS:
            name, unit = _PARAMETER_NUMBERS[concept]
            builder.number(name, child, unit)
        elif concept == codes.CT_XRAY_SOURCE_PARAMETERS:
            _read_source(child, builder)
        else:
            _check_other(child, builder)


def _read_event(node: _Node, decoder: _Decoder) -> CtIrradiationEvent:
    builder = _EventBuilder(decoder)
    values = builder.values
    for child in _children(node.item):
        concept = child.concept
        if concept == codes.ACQUISITION_PROTOCOL:
            raw = _raw(child.item, _TEXT_VALUE)
            values["acquisition_protocol"] = decoder.text(raw) if raw is not None else None
        elif concept == codes.TARGET_REGION:
            values["target_region"] = _first_code(child.item, _CONCEPT_CODE)
            values["target_region_meaning"] = _meaning(child.item, _CONCEPT_CODE, decoder)
        elif concept == codes.CT_ACQUISITION_TYPE:
            code = _first_code(child.item, _CONCEPT_CODE)
            acquisition_type = codes.ACQUISITION_TYPE_CODES.get(code) if code else None
            if acquisition_type is None:
                builder.flags.append(f"unknown_acquisition_type:{code}")
            values["acquisition_type"] = acquisition_type
        elif concept == codes.IRRADIATION_EVENT_UID:
            values["irradiation_event_uid"] = _ascii(child.item, _UID_VALUE)
        elif concept == codes.DATETIME_STARTED:
            values["start_datetime"] = _parse_datetime(_ascii(child.item, _DATETIME_VALUE))
        elif concept == codes.CT_ACQUISITION_PARAMETERS:
            _read_parameters(child, builder)
        elif concept == codes.CT_DOSE:
            _read_ct_dose(child, builder)
        elif concept != codes.ACQUISITION_PROTOCOL:
            _check_other(child, builder)
    if values.get("irradiation_event_uid") is None:
        builder.flags.append("no_irradiation_event_uid")
    return builder.build()


_ACCUMULATED_NAMES: dict[Code, str] = {
    codes.TOTAL_NUMBER_OF_IRRADIATION_EVENTS: "events",
    codes.CT_DOSE_LENGTH_PRODUCT_TOTAL: "dlp",
    codes.CT_EFFECTIVE_DOSE_TOTAL: "effective_dose",
}


def read_dataset(ds: Dataset, source: str = "<dataset>") -> CtDoseReport:
    """Read a CT dose report (TID 10011) from a dataset already in memory.

    Parameters
    ----------
    ds
        The dataset (full, including the content tree).
    source
        How to name the file in messages and in the result (a path or a UID, never patient data).

    Returns
    -------
    CtDoseReport

    Raises
    ------
    NotADoseReportError
        When the dataset is not a CT radiation dose report.
    """
    root_item = _root_item(ds)
    document_type, reason = _classify(_header_ascii(ds, 0x00080016) or "", root_item)
    if reason is not None:
        raise NotADoseReportError(source, document_type, reason)
    charset_value = ds.get_item(_SPECIFIC_CHARSET).value if _SPECIFIC_CHARSET in ds else ""
    if isinstance(charset_value, bytes | bytearray):
        charset_value = bytes(charset_value).decode("ascii", errors="replace")
    declared = str(charset_value).split("\\")[-1].strip() if charset_value else ""
    decoder = _Decoder(declared)

    observer: dict[Code, str | None] = {}
    accumulated: dict[str, float] = {}
    accumulated_invalid: list[str] = []
    events: list[CtIrradiationEvent] = []
    start = end = None
    for node in _children(root_item):
        concept = node.concept
        if concept == codes.CT_ACQUISITION:
            events.append(_read_event(node, decoder))
        elif concept == codes.CT_ACCUMULATED_DOSE_DATA:
            for child in _children(node.item):
                name = _ACCUMULATED_NAMES.get(child.concept) if child.concept else None
                if name is None:
                    continue
                number = _number(child, decoder)
                if number is None:
                    continue
                if number.value is None:
                    accumulated_invalid.append(f"invalid_number:accumulated_{name}")
                else:
                    accumulated[name] = number.value
        elif concept == codes.START_OF_XRAY_IRRADIATION:
            start = _parse_datetime(_ascii(node.item, _DATETIME_VALUE))
        elif concept == codes.END_OF_XRAY_IRRADIATION:
            end = _parse_datetime(_ascii(node.item, _DATETIME_VALUE))
        elif concept in (
            codes.DEVICE_OBSERVER_UID,
            codes.DEVICE_OBSERVER_NAME,
            codes.DEVICE_OBSERVER_MANUFACTURER,
            codes.DEVICE_OBSERVER_MODEL_NAME,
            codes.DEVICE_OBSERVER_SERIAL_NUMBER,
        ):
            if node.value_type == "UIDREF":
                observer[concept] = _ascii(node.item, _UID_VALUE)
            else:
                raw = _raw(node.item, _TEXT_VALUE)
                observer[concept] = decoder.text(raw) if raw is not None else None

    def header_text(tag: int) -> str | None:
        raw = _header(ds, tag)
        return decoder.text(raw) or None if raw is not None else None

    weight_text = header_text(0x00101030)
    try:
        weight = float(weight_text) if weight_text else None
    except ValueError:
        weight = None
    flags = list(accumulated_invalid)
    if decoder.mismatch_seen:
        flags.append(CHARSET_MISMATCH_FLAG)
    events_count = accumulated.get("events")
    return CtDoseReport(
        source=source,
        document_type=document_type,
        sop_class_uid=_header_ascii(ds, 0x00080016) or "",
        sop_instance_uid=_header_ascii(ds, 0x00080018) or "",
        study_instance_uid=_header_ascii(ds, 0x0020000D) or "",
        series_instance_uid=_header_ascii(ds, 0x0020000E) or "",
        study_date=_parse_date(_header_ascii(ds, 0x00080020)),
        patient_id=header_text(0x00100020),
        patient_age=_header_ascii(ds, 0x00101010),
        patient_sex=_header_ascii(ds, 0x00100040),
        patient_weight_kg=weight,
        manufacturer=header_text(0x00080070),
        model_name=header_text(0x00081090),
        station_name=header_text(0x00081010),
        study_description=header_text(0x00081030),
        device_observer=DeviceObserver(
            uid=observer.get(codes.DEVICE_OBSERVER_UID),
            name=observer.get(codes.DEVICE_OBSERVER_NAME),
            manufacturer=observer.get(codes.DEVICE_OBSERVER_MANUFACTURER),
            model_name=observer.get(codes.DEVICE_OBSERVER_MODEL_NAME),
            serial_number=observer.get(codes.DEVICE_OBSERVER_SERIAL_NUMBER),
        ),
        start_of_xray_irradiation=start,
        end_of_xray_irradiation=end,
        accumulated=CtAccumulatedDose(
            total_number_of_events=int(events_count) if events_count is not None else None,
            dlp_total_mgycm=accumulated.get("dlp"),
            effective_dose_total_msv=accumulated.get("effective_dose"),
        ),
        events=tuple(events),
        flags=tuple(flags),
    )


def read_ct_radiation_dose(path: str | Path) -> CtDoseReport:
    """Read a CT dose report (TID 10011) from a file.

    Parameters
    ----------
    path
        A DICOM file (RDSR, Enhanced SR or Comprehensive SR carrying TID 10011).

    Returns
    -------
    CtDoseReport

    Raises
    ------
    UnreadableFileError
        When the file is not DICOM or cannot be read.
    NotADoseReportError
        When the file is DICOM but not a CT dose report.
    """
    source = str(path)
    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise UnreadableFileError(f"{source}: cannot read as DICOM: {type(exc).__name__}") from exc
    if BaseTag(0x00080016) not in ds:
        raise NotADoseReportError(source, "not_dicom", "no SOP Class UID (not a DICOM object)")
    return read_dataset(ds, source)
