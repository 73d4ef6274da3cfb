"""PS3.16 TID 10003 Irradiation Event X-Ray Data: one container (DCM 113706) per irradiation event.

TID 10003 includes TID 10003A (mechanical data: positioner angles, table positions), TID 10003B (source
data: kVp, tube current, exposure, pulses, filters, focal spot, collimated field, distances) and TID
10003C (detector data: exposure index, deviation index) inline: their items are children of the event
container, as are the mammography items (compressed breast thickness and force, HVL, entrance exposure at
RP, average glandular dose). Units are normalised by :mod:`.projection_numbers`, which lists the quirks
flagged on the way; an event without an Irradiation Event UID is kept and flagged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.rdsr import projection_codes as pc
from resources.dose.rdsr.content_items import CONCEPT_CODE, DATETIME_VALUE, TEXT_VALUE, UID_VALUE
from resources.dose.rdsr.content_tree import (
    ContentNode,
    TextDecoder,
    ascii_value,
    children,
    code_meaning,
    first_code,
    parse_datetime,
    raw_value,
)
from resources.dose.rdsr.projection_codes import AcquisitionPlane, IrradiationEventType, Laterality
from resources.dose.rdsr.projection_numbers import NumberCollector
from resources.dose.rdsr.value_types import ValueType


@dataclass(frozen=True, slots=True)
class XRayFilter:
    """One X-Ray Filters container (DCM 113771) of TID 10003B."""

    filter_type: str | None  # code meaning, e.g. "Strip filter"
    material: Code | None
    material_meaning: str | None
    thickness_minimum_mm: float | None
    thickness_maximum_mm: float | None


@dataclass(frozen=True, slots=True)
class ProjectionIrradiationEventData:
    """PS3.16 TID 10003 Irradiation Event X-Ray Data (with 10003A/B/C) of one event, units normalised."""

    irradiation_event_uid: str | None
    datetime_started: dt.datetime | None
    event_type: IrradiationEventType | None
    acquisition_plane: AcquisitionPlane | None
    acquisition_protocol: str | None
    anatomical_structure: Code | None
    anatomical_structure_meaning: str | None
    target_region: Code | None
    target_region_meaning: str | None
    laterality: Laterality | None
    image_view: Code | None
    view: str | None  # "CC", "MLO", ... for mammography views; else the code meaning
    dose_area_product_gym2: float | None
    dose_rp_gy: float | None
    reference_point_definition: str | None
    kvp: float | None
    tube_current_ma: float | None
    average_tube_current_ma: float | None
    exposure_uas: float | None
    exposure_time_ms: float | None
    pulse_width_ms: float | None
    pulse_rate_per_s: float | None
    number_of_pulses: int | None
    irradiation_duration_s: float | None
    fluoro_mode: str | None  # "continuous" | "pulsed"
    filters: tuple[XRayFilter, ...]
    focal_spot_size_mm: float | None
    grid: str | None  # code meaning(s) of X-Ray Grid, joined by "; "
    collimated_field_area_m2: float | None
    collimated_field_height_mm: float | None
    collimated_field_width_mm: float | None
    distance_source_to_detector_mm: float | None
    distance_source_to_isocenter_mm: float | None
    distance_source_to_reference_point_mm: float | None
    distance_source_to_table_plane_mm: float | None
    table_longitudinal_position_mm: float | None
    table_lateral_position_mm: float | None
    table_height_position_mm: float | None
    table_head_tilt_angle_deg: float | None
    table_horizontal_rotation_angle_deg: float | None
    table_cradle_tilt_angle_deg: float | None
    positioner_primary_angle_deg: float | None
    positioner_secondary_angle_deg: float | None
    positioner_primary_end_angle_deg: float | None
    positioner_secondary_end_angle_deg: float | None
    patient_equivalent_thickness_mm: float | None
    compression_thickness_mm: float | None
    compression_force_n: float | None
    compression_pressure_kpa: float | None
    compression_contact_area_mm2: float | None
    anode_target_material: Code | None
    anode_target_material_meaning: str | None
    half_value_layer_mm: float | None
    entrance_exposure_at_rp_mgy: float | None
    average_glandular_dose_mgy: float | None
    exposure_index: float | None
    target_exposure_index: float | None
    deviation_index: float | None
    flags: tuple[str, ...] = ()
    invalid_values: dict[str, str] = field(default_factory=dict)


# Concept -> (field name without its unit suffix, canonical unit, is a dose quantity).
_NUMBERS: dict[Code, tuple[str, str, bool]] = {
    pc.DOSE_AREA_PRODUCT: ("dose_area_product", "Gy.m2", True),
    pc.DOSE_RP: ("dose_rp", "Gy", True),
    codes.KVP: ("kvp", "kV", False),
    codes.XRAY_TUBE_CURRENT: ("tube_current", "mA", False),
    pc.AVERAGE_XRAY_TUBE_CURRENT: ("average_tube_current", "mA", False),
    pc.EXPOSURE: ("exposure", "uAs", False),
    pc.PULSE_WIDTH: ("pulse_width", "ms", False),
    pc.PULSE_RATE: ("pulse_rate", "/s", False),
    pc.IRRADIATION_DURATION: ("irradiation_duration", "s", False),
    pc.FOCAL_SPOT_SIZE: ("focal_spot_size", "mm", False),
    pc.COLLIMATED_FIELD_AREA: ("collimated_field_area", "m2", False),
    pc.COLLIMATED_FIELD_HEIGHT: ("collimated_field_height", "mm", False),
    pc.COLLIMATED_FIELD_WIDTH: ("collimated_field_width", "mm", False),
    pc.DISTANCE_SOURCE_TO_DETECTOR: ("distance_source_to_detector", "mm", False),
    pc.DISTANCE_SOURCE_TO_ISOCENTER: ("distance_source_to_isocenter", "mm", False),
    pc.DISTANCE_SOURCE_TO_REFERENCE_POINT: ("distance_source_to_reference_point", "mm", False),
    pc.DISTANCE_SOURCE_TO_TABLE_PLANE: ("distance_source_to_table_plane", "mm", False),
    pc.TABLE_LONGITUDINAL_POSITION: ("table_longitudinal_position", "mm", False),
    pc.TABLE_LATERAL_POSITION: ("table_lateral_position", "mm", False),
    pc.TABLE_HEIGHT_POSITION: ("table_height_position", "mm", False),
    pc.TABLE_HEAD_TILT_ANGLE: ("table_head_tilt_angle", "deg", False),
    pc.TABLE_HORIZONTAL_ROTATION_ANGLE: ("table_horizontal_rotation_angle", "deg", False),
    pc.TABLE_CRADLE_TILT_ANGLE: ("table_cradle_tilt_angle", "deg", False),
    pc.POSITIONER_PRIMARY_ANGLE: ("positioner_primary_angle", "deg", False),
    pc.POSITIONER_SECONDARY_ANGLE: ("positioner_secondary_angle", "deg", False),
    pc.POSITIONER_PRIMARY_END_ANGLE: ("positioner_primary_end_angle", "deg", False),
    pc.POSITIONER_SECONDARY_END_ANGLE: ("positioner_secondary_end_angle", "deg", False),
    pc.PATIENT_EQUIVALENT_THICKNESS: ("patient_equivalent_thickness", "mm", False),
    pc.COMPRESSION_THICKNESS: ("compression_thickness", "mm", False),
    pc.COMPRESSION_FORCE: ("compression_force", "N", False),
    pc.COMPRESSION_PRESSURE: ("compression_pressure", "kPa", False),
    pc.COMPRESSION_CONTACT_AREA: ("compression_contact_area", "mm2", False),
    pc.HALF_VALUE_LAYER: ("half_value_layer", "mm", False),
    pc.ENTRANCE_EXPOSURE_AT_RP: ("entrance_exposure_at_rp", "mGy", True),
    pc.AVERAGE_GLANDULAR_DOSE: ("average_glandular_dose", "mGy", True),
    pc.EXPOSURE_INDEX: ("exposure_index", "1", False),
    pc.TARGET_EXPOSURE_INDEX: ("target_exposure_index", "1", False),
    pc.DEVIATION_INDEX: ("deviation_index", "1", False),
}
for _concept in pc.EXPOSURE_TIMES:
    _NUMBERS[_concept] = ("exposure_time", "ms", False)


class _EventReader:
    def __init__(self, decoder: TextDecoder) -> None:
        self.decoder = decoder
        self.numbers = NumberCollector(decoder)
        self.text: dict[str, str | None] = {}
        self.coded: dict[str, tuple[Code | None, str | None]] = {}
        self.uid: str | None = None
        self.started: dt.datetime | None = None
        self.event_type: IrradiationEventType | None = None
        self.plane: AcquisitionPlane | None = None
        self.laterality: Laterality | None = None
        self.number_of_pulses: int | None = None
        self.fluoro_mode: str | None = None
        self.filters: list[XRayFilter] = []
        self.grids: list[str] = []

    @property
    def flags(self) -> list[str]:
        return self.numbers.flags

    def _code(self, node: ContentNode) -> tuple[Code | None, str | None]:
        return first_code(node.item, CONCEPT_CODE), code_meaning(node.item, CONCEPT_CODE, self.decoder)

    def _laterality_of(self, node: ContentNode) -> None:
        """Laterality is a concept modifier of the anatomy (or, from some vendors, of the target region)."""
        for child in children(node.item):
            if child.concept in pc.LATERALITY:
                code = first_code(child.item, CONCEPT_CODE)
                side = pc.LATERALITY_CODES.get(code) if code else None
                if side is None:
                    self.flags.append(f"unknown_laterality:{code}")
                self.laterality = self.laterality or side

    def read(self, node: ContentNode) -> None:
        for child in children(node.item):
            concept = child.concept
            if concept is None:
                continue
            if child.value_type is ValueType.NUM:
                if concept == pc.NUMBER_OF_PULSES:
                    self.number_of_pulses = self.numbers.count("number_of_pulses", child)
                elif concept in _NUMBERS:
                    name, unit, dose = _NUMBERS[concept]
                    self.numbers.read(name, child, unit, dose=dose)
                continue
            self._read_other(concept, child)
        if self.uid is None:
            self.flags.append("no_irradiation_event_uid")

    def _read_other(self, concept: Code, child: ContentNode) -> None:
        if concept == codes.IRRADIATION_EVENT_UID:
            self.uid = ascii_value(child.item, UID_VALUE)
        elif concept == codes.DATETIME_STARTED:
            self.started = parse_datetime(ascii_value(child.item, DATETIME_VALUE))
        elif concept == pc.ACQUISITION_PLANE:
            code = first_code(child.item, CONCEPT_CODE)
            self.plane = pc.PLANE_CODES.get(code) if code else None
            if self.plane is None:
                self.flags.append(f"unknown_acquisition_plane:{code}")
        elif concept == pc.IRRADIATION_EVENT_TYPE:
            code = first_code(child.item, CONCEPT_CODE)
            self.event_type = pc.EVENT_TYPE_CODES.get(code) if code else None
            if self.event_type is None:
                self.flags.append(f"unknown_event_type:{code}")
        elif concept == codes.ACQUISITION_PROTOCOL:
            raw = raw_value(child.item, TEXT_VALUE)
            self.text["protocol"] = self.decoder.text(raw) if raw is not None else None
        elif concept == pc.REFERENCE_POINT_DEFINITION:
            self.text["reference_point"] = self._text_or_meaning(child)
        elif concept in pc.ANATOMICAL_STRUCTURE:
            self.coded["anatomy"] = self._code(child)
            self._laterality_of(child)
        elif concept == codes.TARGET_REGION:
            self.coded["target_region"] = self._code(child)
            self._laterality_of(child)
        elif concept == pc.IMAGE_VIEW:
            self.coded["view"] = self._code(child)
        elif concept in pc.ANODE_TARGET_MATERIAL:
            self.coded["anode"] = self._code(child)
        elif concept == pc.FLUORO_MODE:
            code = first_code(child.item, CONCEPT_CODE)
            self.fluoro_mode = pc.FLUORO_MODE_CODES.get(code) if code else None
        elif concept == pc.XRAY_GRID:
            meaning = code_meaning(child.item, CONCEPT_CODE, self.decoder)
            if meaning:
                self.grids.append(meaning)
        elif concept == pc.XRAY_FILTERS:
            self.filters.append(self._filter(child))

    def _text_or_meaning(self, node: ContentNode) -> str | None:
        """Reference Point Definition is CODE in the standard; some vendors write TEXT."""
        if node.value_type is ValueType.TEXT:
            raw = raw_value(node.item, TEXT_VALUE)
            return self.decoder.text(raw) if raw is not None else None
        return code_meaning(node.item, CONCEPT_CODE, self.decoder)

    def _filter(self, node: ContentNode) -> XRayFilter:
        collector = NumberCollector(self.decoder, prefix=f"filter[{len(self.filters)}].")
        filter_type: str | None = None
        material: tuple[Code | None, str | None] = (None, None)
        for child in children(node.item):
            if child.concept == pc.XRAY_FILTER_TYPE:
                filter_type = code_meaning(child.item, CONCEPT_CODE, self.decoder)
            elif child.concept == pc.XRAY_FILTER_MATERIAL:
                material = self._code(child)
            elif child.concept == pc.XRAY_FILTER_THICKNESS_MINIMUM:
                collector.read("minimum", child, "mm")
            elif child.concept == pc.XRAY_FILTER_THICKNESS_MAXIMUM:
                collector.read("maximum", child, "mm")
        self.flags.extend(collector.flags)
        self.numbers.invalid.update(collector.invalid)
        return XRayFilter(
            filter_type, material[0], material[1], collector.get("minimum"), collector.get("maximum")
        )

    def build(self) -> ProjectionIrradiationEventData:
        n = self.numbers.get
        anatomy = self.coded.get("anatomy", (None, None))
        region = self.coded.get("target_region", (None, None))
        view = self.coded.get("view", (None, None))
        anode = self.coded.get("anode", (None, None))
        return ProjectionIrradiationEventData(
            irradiation_event_uid=self.uid,
            datetime_started=self.started,
            event_type=self.event_type,
            acquisition_plane=self.plane,
            acquisition_protocol=self.text.get("protocol"),
            anatomical_structure=anatomy[0],
            anatomical_structure_meaning=anatomy[1],
            target_region=region[0],
            target_region_meaning=region[1],
            laterality=self.laterality,
            image_view=view[0],
            view=(pc.VIEW_CODES.get(view[0]) if view[0] else None) or view[1],
            dose_area_product_gym2=n("dose_area_product"),
            dose_rp_gy=n("dose_rp"),
            reference_point_definition=self.text.get("reference_point"),
            kvp=n("kvp"),
            tube_current_ma=n("tube_current"),
            average_tube_current_ma=n("average_tube_current"),
            exposure_uas=n("exposure"),
            exposure_time_ms=n("exposure_time"),
            pulse_width_ms=n("pulse_width"),
            pulse_rate_per_s=n("pulse_rate"),
            number_of_pulses=self.number_of_pulses,
            irradiation_duration_s=n("irradiation_duration"),
            fluoro_mode=self.fluoro_mode,
            filters=tuple(self.filters),
            focal_spot_size_mm=n("focal_spot_size"),
            grid="; ".join(self.grids) or None,
            collimated_field_area_m2=n("collimated_field_area"),
            collimated_field_height_mm=n("collimated_field_height"),
            collimated_field_width_mm=n("collimated_field_width"),
            distance_source_to_detector_mm=n("distance_source_to_detector"),
            distance_source_to_isocenter_mm=n("distance_source_to_isocenter"),
            distance_source_to_reference_point_mm=n("distance_source_to_reference_point"),
            distance_source_to_table_plane_mm=n("distance_source_to_table_plane"),
            table_longitudinal_position_mm=n("table_longitudinal_position"),
            table_lateral_position_mm=n("table_lateral_position"),
            table_height_position_mm=n("table_height_position"),
            table_head_tilt_angle_deg=n("table_head_tilt_angle"),
            table_horizontal_rotation_angle_deg=n("table_horizontal_rotation_angle"),
            table_cradle_tilt_angle_deg=n("table_cradle_tilt_angle"),
            positioner_primary_angle_deg=n("positioner_primary_angle"),
            positioner_secondary_angle_deg=n("positioner_secondary_angle"),
            positioner_primary_end_angle_deg=n("positioner_primary_end_angle"),
            positioner_secondary_end_angle_deg=n("positioner_secondary_end_angle"),
            patient_equivalent_thickness_mm=n("patient_equivalent_thickness"),
            compression_thickness_mm=n("compression_thickness"),
            compression_force_n=n("compression_force"),
            compression_pressure_kpa=n("compression_pressure"),
            compression_contact_area_mm2=n("compression_contact_area"),
            anode_target_material=anode[0],
            anode_target_material_meaning=anode[1],
            half_value_layer_mm=n("half_value_layer"),
            entrance_exposure_at_rp_mgy=n("entrance_exposure_at_rp"),
            average_glandular_dose_mgy=n("average_glandular_dose"),
            exposure_index=n("exposure_index"),
            target_exposure_index=n("target_exposure_index"),
            deviation_index=n("deviation_index"),
            flags=tuple(dict.fromkeys(self.flags)),
            invalid_values=dict(self.numbers.invalid),
        )


def read_projection_irradiation_event_data(
    node: ContentNode, decoder: TextDecoder
) -> ProjectionIrradiationEventData:
    """Read one Irradiation Event X-Ray Data container (DCM 113706) into an event."""
    reader = _EventReader(decoder)
    reader.read(node)
    return reader.build()
