"""The ground truth of one study, decided before any DICOM is written: the plan records.

A :class:`StudyPlan` holds everything the DICOM writers need (patient, device, irradiation events or
mammography views, UIDs); :class:`~resources.corpus.planner.CorpusPlanner` decides them. The patient,
device, event and view records give their own manifest form (``to_manifest``), so the manifest reports
exactly what was planned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from resources.corpus.catalogue import Device, Protocol
from resources.corpus.seeding import derive_uid


@dataclass(frozen=True)
class PatientPlan:
    slot: int
    patient_id: str
    issuer: str
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date
    is_child: bool
    age_band: int | None
    size_m: float
    weight_kg: float
    nhs_number: str
    old_mrn: str
    phone: str
    mobile: str
    email: str
    address: str
    occupation: str
    ethnic_group: str
    military_rank: str
    birth_name: str
    mother_birth_name: str
    relative_name: str
    opt_out_candidate: bool

    @property
    def dicom_name(self) -> str:
        return f"{self.family_name}^{self.given_name}"

    @property
    def plain_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    def age_at(self, when: dt.date) -> tuple[int, str]:
        """Whole years at ``when`` and the Patient's Age string (nnnD / nnnM / nnnY)."""
        days = (when - self.birth_date).days
        years = (
            when.year
            - self.birth_date.year
            - ((when.month, when.day) < (self.birth_date.month, self.birth_date.day))
        )
        if days < 31:
            return 0, f"{max(days, 0):03d}D"
        if years < 2:
            months = (when.year - self.birth_date.year) * 12 + when.month - self.birth_date.month
            if when.day < self.birth_date.day:
                months -= 1
            return years, f"{months:03d}M"
        return years, f"{years:03d}Y"

    def to_manifest(self, start_date: dt.date) -> dict[str, object]:
        years, _ = self.age_at(start_date)
        return {
            "patient_id": self.patient_id,
            "issuer": self.issuer,
            "name": self.dicom_name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "age_years": years,
            "is_child": self.is_child,
            "age_band": self.age_band,
            "size_m": self.size_m,
            "weight_kg": self.weight_kg,
            "nhs_number": self.nhs_number,
            "other_patient_ids": [self.nhs_number, self.old_mrn],
            "opt_out_candidate": self.opt_out_candidate,
        }


@dataclass(frozen=True)
class DevicePlan:
    device: Device
    manufacturer: str
    station_name: str
    institution_name: str
    institution_canonical: str
    institution_address: str
    software_version: str
    observer_uid: str

    def to_manifest(self) -> dict[str, object]:
        return {
            "key": self.device.key,
            "vendor": self.device.vendor,
            "manufacturer": self.manufacturer,
            "model": self.device.model,
            "serial_number": self.device.serial,
            "software_version": self.software_version,
            "station_name_raw": self.station_name,
            "station_name_canonical": self.device.station_canonical,
            "institution_name_raw": self.institution_name,
            "institution_name_canonical": self.institution_canonical,
            "device_observer_uid": self.observer_uid,
        }


@dataclass(frozen=True)
class EventPlan:
    """One CT irradiation event (TID 10013) and the image series it produced."""

    number: int
    irradiation_event_uid: str
    kind: str  # localizer | spiral | sequenced
    acquisition_protocol: str
    region_key: str
    target_region: tuple[str, str, str]
    acquisition_type: tuple[str, str, str]
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: str | None  # head | body | None for a localiser without CT Dose
    scanning_length_mm: float
    kvp: int
    tube_current_ma: int
    exposure_time_s: float
    single_collimation_mm: float
    total_collimation_mm: float
    pitch: float | None
    start: dt.datetime
    n_images: int
    slice_thickness_mm: float
    first_z_mm: float
    series_number: int
    series_uid: str

    @property
    def has_dose_container(self) -> bool:
        return self.ctdivol_mgy is not None

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.exposure_time_s)

    def to_manifest(self) -> dict[str, object]:
        return {
            "irradiation_event_uid": self.irradiation_event_uid,
            "kind": self.kind,
            "acquisition_protocol": self.acquisition_protocol,
            "target_region": {
                "code": self.target_region[0],
                "scheme": self.target_region[1],
                "meaning": self.target_region[2],
                "region_key": self.region_key,
            },
            "acquisition_type": {
                "code": self.acquisition_type[0],
                "scheme": self.acquisition_type[1],
                "meaning": self.acquisition_type[2],
            },
            "ctdivol_mgy": self.ctdivol_mgy,
            "dlp_mgycm": self.dlp_mgycm,
            "phantom": self.phantom,
            "scanning_length_mm": self.scanning_length_mm,
            "kvp": self.kvp,
            "tube_current_ma": self.tube_current_ma,
            "exposure_time_s": self.exposure_time_s,
            "single_collimation_mm": self.single_collimation_mm,
            "total_collimation_mm": self.total_collimation_mm,
            "pitch": self.pitch,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "has_dose_container": self.has_dose_container,
            "series_uid": self.series_uid,
            "n_images": self.n_images,
            "slice_thickness_mm": self.slice_thickness_mm,
        }


@dataclass(frozen=True)
class MammoViewPlan:
    laterality: str
    view: str  # CC | MLO
    organ_dose_dgy: float
    body_part_thickness_mm: float
    compression_force_n: float
    kvp: int
    tube_current_ma: int
    exposure_time_ms: int
    exposure_mas: float
    anode: str
    filter: str
    entrance_dose_mgy: float
    acquired: dt.datetime

    def to_manifest(self) -> dict[str, object]:
        return {
            "laterality": self.laterality,
            "view": self.view,
            "organ_dose_dgy": self.organ_dose_dgy,
            "body_part_thickness_mm": self.body_part_thickness_mm,
            "compression_force_n": self.compression_force_n,
            "kvp": self.kvp,
            "tube_current_ma": self.tube_current_ma,
            "exposure_time_ms": self.exposure_time_ms,
            "exposure_mas": self.exposure_mas,
            "anode_target_material": self.anode,
            "filter_material": self.filter,
            "entrance_dose_mgy": self.entrance_dose_mgy,
            "acquired": self.acquired.isoformat(),
        }


@dataclass(frozen=True)
class StudyPlan:
    index: int
    seed: int
    modality: str
    study_uid: str
    accession: str
    study_id: str
    frame_of_reference_uid: str
    study_start: dt.datetime
    patient: PatientPlan
    age_years: int
    patient_age: str | None
    device: DevicePlan
    protocol: Protocol
    protocol_raw: str
    study_description_raw: str
    body_part_written: str
    body_part_true: str
    body_part_wrong: bool
    has_rdsr: bool
    rdsr_count: int
    plants_name_in_study_description: bool
    referring_physician: str
    performing_physician: str
    reading_physician: str
    requesting_physician: str
    operator: str
    events: tuple[EventPlan, ...] = ()
    mammo_views: tuple[MammoViewPlan, ...] = ()
    mg_series_uid: str = ""
    rdsr_series_uid: str = ""
    rdsr_series_number: int = 0
    sop_uids: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def study_date(self) -> dt.date:
        return self.study_start.date()

    @property
    def folder(self) -> str:
        return f"{self.study_date.strftime('%Y%m%d')}_{self.index:06d}_{self.modality}"

    def sop_uid(self, series_number: int, instance_number: int) -> str:
        return derive_uid(self.seed, "sop", self.index, series_number, instance_number)

    def rdsr_events(self, rdsr_number: int) -> tuple[EventPlan, ...]:
        """Events in dose SR ``rdsr_number`` (1-based): a cumulative first SR lacks the last event."""
        if self.rdsr_count == 2 and rdsr_number == 1:
            return self.events[:-1]
        return self.events
