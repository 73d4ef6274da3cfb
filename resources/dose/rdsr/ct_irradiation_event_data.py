"""PS3.16 TID 10013 CT Irradiation Event Data: one CT Acquisition container (DCM 113819) per event.

Each event holds the acquisition protocol, target region and acquisition type, the CT Acquisition
Parameters (DCM 113822: exposure time, TID 10014 Scanning Length, collimation, pitch, one CT X-Ray Source
Parameters container per source) and the CT Dose container (DCM 113829: CTDIvol, DLP, phantom, SSDE,
TID 10015 CT Dose Check Details).

Vendor quirks are reported in the event's flags, never silently "fixed":

* a missing CT Dose container (scouts/localisers) gives CTDIvol/DLP ``None`` (absent), never 0, and the
  flag ``no_ct_dose_container``;
* an invalid number (``"10.50/ 15.00"``) keeps its event; the value becomes ``None``, the raw text is kept
  in ``invalid_values`` and the flag ``invalid_number:<name>`` is set;
* a unit other than the expected one sets ``unexpected_unit:<name>:<unit>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from resources.dose import codes
from resources.dose.codes import AcquisitionType, Code, Phantom
from resources.dose.rdsr.content_items import CONCEPT_CODE, DATETIME_VALUE, TEXT_VALUE, UID_VALUE
from resources.dose.rdsr.content_tree import (
    ContentNode,
    TextDecoder,
    ascii_value,
    children,
    code_meaning,
    first_code,
    invalid_numbers,
    measured_number,
    parse_datetime,
    raw_value,
)
from resources.dose.rdsr.ct_dose_check_details import (
    CTDoseCheckDetails,
    DoseCheckKind,
    read_ct_dose_check_details,
)
from resources.dose.rdsr.scanning_length import SCANNING_LENGTH_NUMBERS


@dataclass(frozen=True, slots=True)
class CTXRaySourceParameters:
    """PS3.16 TID 10013 CT X-Ray Source Parameters (DCM 113831): two per event on a dual-source scanner."""

    source_id: str | None
    kvp: float | None
    tube_current_ma: float | None
    maximum_tube_current_ma: float | None
    exposure_time_per_rotation_s: float | None


@dataclass(frozen=True, slots=True)
class CTIrradiationEventData:
    """PS3.16 TID 10013 CT Irradiation Event Data: one CT Acquisition container (DCM 113819)."""

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
    sources: tuple[CTXRaySourceParameters, ...]
    ssde_mgy: float | None
    water_equivalent_diameter_mm: float | None
    effective_dose_msv_reported: float | None
    dose_checks: tuple[CTDoseCheckDetails, ...]
    has_dose_container: bool
    flags: tuple[str, ...] = ()
    invalid_values: dict[str, str] = field(default_factory=dict)

    @property
    def kvp(self) -> float | None:
        return self.sources[0].kvp if self.sources else None

    @property
    def tube_current_ma(self) -> float | None:
        return self.sources[0].tube_current_ma if self.sources else None


# Concept -> (name in flags and in the event's invalid values, canonical unit).
_PARAMETER_NUMBERS: dict[Code, tuple[str, str | None]] = {
    codes.EXPOSURE_TIME: ("exposure_time", "s"),
    **SCANNING_LENGTH_NUMBERS,
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
_SOURCE_NUMBERS: dict[Code, str] = {
    codes.KVP: "kvp",
    codes.XRAY_TUBE_CURRENT: "tube_current",
    codes.MAXIMUM_XRAY_TUBE_CURRENT: "maximum_tube_current",
    codes.EXPOSURE_TIME_PER_ROTATION: "exposure_time_per_rotation",
}


class _EventReader:
    """Collects one CT Acquisition container's items (PS3.16 TID 10013) into an event."""

    def __init__(self, decoder: TextDecoder) -> None:
        self.decoder = decoder
        self.numbers: dict[str, float] = {}  # by the names of the number tables above
        self.irradiation_event_uid: str | None = None
        self.acquisition_protocol: str | None = None
        self.target_region: Code | None = None
        self.target_region_meaning: str | None = None
        self.acquisition_type: AcquisitionType | None = None
        self.start_datetime: dt.datetime | None = None
        self.phantom: Phantom | None = None
        self.flags: list[str] = []
        self.invalid: dict[str, str] = {}
        self.sources: list[CTXRaySourceParameters] = []
        self.dose_checks: list[CTDoseCheckDetails] = []
        self.has_dose_container = False

    def number(self, name: str, node: ContentNode, expected_unit: str | None) -> None:
        number = measured_number(node, self.decoder)
        if number is None:
            return
        if number.value is None:
            self.invalid[name] = number.raw
            self.flags.append(f"invalid_number:{name}")
            return
        if expected_unit is not None and number.unit != expected_unit:
            self.flags.append(f"unexpected_unit:{name}:{number.unit}")
        self.numbers[name] = number.value

    def check_other(self, node: ContentNode) -> None:
        """Items this reader does not use (vendor extras): an invalid number there is still flagged."""
        for concept, raw in invalid_numbers(node, self.decoder):
            self.invalid[f"other:{concept}"] = raw
            self.flags.append(f"invalid_number:other:{concept.value if concept else '?'}")

    def read_event(self, node: ContentNode) -> None:
        decoder = self.decoder
        for child in children(node.item):
            concept = child.concept
            if concept == codes.ACQUISITION_PROTOCOL:
                raw = raw_value(child.item, TEXT_VALUE)
                self.acquisition_protocol = decoder.text(raw) if raw is not None else None
            elif concept == codes.TARGET_REGION:
                self.target_region = first_code(child.item, CONCEPT_CODE)
                self.target_region_meaning = code_meaning(child.item, CONCEPT_CODE, decoder)
            elif concept == codes.CT_ACQUISITION_TYPE:
                code = first_code(child.item, CONCEPT_CODE)
                acquisition_type = codes.ACQUISITION_TYPE_CODES.get(code) if code else None
                if acquisition_type is None:
                    self.flags.append(f"unknown_acquisition_type:{code}")
                self.acquisition_type = acquisition_type
            elif concept == codes.IRRADIATION_EVENT_UID:
                self.irradiation_event_uid = ascii_value(child.item, UID_VALUE)
            elif concept == codes.DATETIME_STARTED:
                self.start_datetime = parse_datetime(ascii_value(child.item, DATETIME_VALUE))
            elif concept == codes.CT_ACQUISITION_PARAMETERS:
                self.read_parameters(child)
            elif concept == codes.CT_DOSE:
                self.read_ct_dose(child)
            else:
                self.check_other(child)
        if self.irradiation_event_uid is None:
            self.flags.append("no_irradiation_event_uid")

    def read_parameters(self, node: ContentNode) -> None:
        for child in children(node.item):
            concept = child.concept
            if concept in _PARAMETER_NUMBERS:
                name, unit = _PARAMETER_NUMBERS[concept]
                self.number(name, child, unit)
            elif concept == codes.CT_XRAY_SOURCE_PARAMETERS:
                self.read_source(child)
            else:
                self.check_other(child)

    def read_source(self, node: ContentNode) -> None:
        values: dict[str, float] = {}
        source_id: str | None = None
        for child in children(node.item):
            if child.concept == codes.IDENTIFICATION_OF_XRAY_SOURCE:
                raw = raw_value(child.item, TEXT_VALUE)
                source_id = self.decoder.text(raw) if raw is not None else None
            elif child.concept in _SOURCE_NUMBERS:
                name = _SOURCE_NUMBERS[child.concept]
                number = measured_number(child, self.decoder)
                if number is None:
                    continue
                if number.value is None:
                    self.invalid[f"{name}[{len(self.sources)}]"] = number.raw
                    self.flags.append(f"invalid_number:{name}")
                else:
                    values[name] = number.value
        self.sources.append(
            CTXRaySourceParameters(
                source_id=source_id,
                kvp=values.get("kvp"),
                tube_current_ma=values.get("tube_current"),
                maximum_tube_current_ma=values.get("maximum_tube_current"),
                exposure_time_per_rotation_s=values.get("exposure_time_per_rotation"),
            )
        )

    def read_ct_dose(self, node: ContentNode) -> None:
        self.has_dose_container = True
        for child in children(node.item):
            concept = child.concept
            if concept in _DOSE_NUMBERS:
                name, unit = _DOSE_NUMBERS[concept]
                self.number(name, child, unit)
            elif concept == codes.CTDIW_PHANTOM_TYPE:
                code = first_code(child.item, CONCEPT_CODE)
                phantom = codes.PHANTOM_CODES.get(code) if code else None
                if phantom is None:
                    self.flags.append(f"unknown_phantom:{code}")
                self.phantom = phantom
            elif concept == codes.DOSE_CHECK_ALERT_DETAILS:
                self.read_dose_check(child, DoseCheckKind.ALERT)
            elif concept == codes.DOSE_CHECK_NOTIFICATION_DETAILS:
                self.read_dose_check(child, DoseCheckKind.NOTIFICATION)
            else:
                self.check_other(child)

    def read_dose_check(self, node: ContentNode, kind: DoseCheckKind) -> None:
        details = read_ct_dose_check_details(node, kind, self.decoder)
        self.dose_checks.append(details)
        if details.level_reached:
            self.flags.append(f"dose_check_{kind}_reached")

    def build(self) -> CTIrradiationEventData:
        numbers = self.numbers
        if not self.has_dose_container:
            self.flags.append("no_ct_dose_container")
        count = numbers.get("number_of_xray_sources")
        return CTIrradiationEventData(
            irradiation_event_uid=self.irradiation_event_uid,
            acquisition_protocol=self.acquisition_protocol,
            target_region=self.target_region,
            target_region_meaning=self.target_region_meaning,
            acquisition_type=self.acquisition_type,
            start_datetime=self.start_datetime,
            ctdivol_mgy=numbers.get("ctdivol"),
            dlp_mgycm=numbers.get("dlp"),
            phantom=self.phantom,
            scanning_length_mm=numbers.get("scanning_length"),
            reconstructable_length_mm=numbers.get("reconstructable_length"),
            exposure_time_s=numbers.get("exposure_time"),
            nominal_single_collimation_mm=numbers.get("nominal_single_collimation"),
            nominal_total_collimation_mm=numbers.get("nominal_total_collimation"),
            pitch_factor=numbers.get("pitch_factor"),
            number_of_xray_sources=int(count) if count is not None else None,
            sources=tuple(self.sources),
            ssde_mgy=numbers.get("ssde"),
            water_equivalent_diameter_mm=numbers.get("water_equivalent_diameter"),
            effective_dose_msv_reported=numbers.get("effective_dose"),
            dose_checks=tuple(self.dose_checks),
            has_dose_container=self.has_dose_container,
            flags=tuple(self.flags),
            invalid_values=dict(self.invalid),
        )


def read_ct_irradiation_event_data(node: ContentNode, decoder: TextDecoder) -> CTIrradiationEventData:
    """Read one CT Acquisition container (DCM 113819) into an event."""
    reader = _EventReader(decoder)
    reader.read_event(node)
    return reader.build()
