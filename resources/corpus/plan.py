"""The ground truth of one study, decided before any DICOM is written.

A study's plan depends only on the spec and the study's index, so studies can be generated one at a
time in any order. Patients are derived from a "slot" (the index of the study that first introduced
them), so a repeat study of the same patient regenerates the same identity without remembering it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any

from resources.corpus.catalogue import AcquisitionTemplate, Catalogue, Device, Protocol, load_catalogue
from resources.corpus.seeding import derive_uid, rng_for, spread_flag, stable_int
from resources.corpus.spec import CorpusSpec

CHILD_AGE_BANDS = (0, 1, 5, 10, 15)
# Paediatric CTDIvol and scan-length scale factors relative to the adult protocol, by age band.
HEAD_DOSE_SCALE = {0: 0.45, 1: 0.55, 5: 0.65, 10: 0.8, 15: 0.95}
BODY_DOSE_SCALE = {0: 0.25, 1: 0.3, 5: 0.4, 10: 0.55, 15: 0.8}
LENGTH_SCALE = {0: 0.45, 1: 0.55, 5: 0.7, 10: 0.85, 15: 0.95}
# A body scan reported on the 16 cm head phantom reads about twice the 32 cm value.
HEAD_PHANTOM_BODY_RATIO = 2.2
CHILD_SIZE = {0: (0.65, 7.0), 1: (0.80, 10.5), 5: (1.10, 19.0), 10: (1.40, 32.0), 15: (1.65, 55.0)}
COLLIMATION_BY_VENDOR = {
    "GE": (0.625, 40.0),
    "Siemens": (0.6, 38.4),
    "Philips": (0.625, 40.0),
    "Canon": (0.5, 40.0),
}
LOCALIZER_NAME_BY_VENDOR = {"GE": "Scout", "Siemens": "Topogram", "Philips": "Surview", "Canon": "Scanogram"}
RDSR_SERIES_NUMBER_BY_VENDOR = {"GE": 999, "Siemens": 501, "Philips": 1000, "Canon": 9001}
WRONG_BODY_PARTS = ("CHEST", "HEAD", "ABDOMEN", "PELVIS", "EXTREMITY")
ISSUER_OF_PATIENT_ID = "TESTVILLE PAS"
# Regions whose examinations sometimes have a second (delayed) phase when multi-phase is enabled.
MULTIPHASE_REGIONS = frozenset({"abdomen_pelvis", "chest_abdomen_pelvis"})


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


def _pick_weighted(rng: Random, protocols: tuple[Protocol, ...]) -> Protocol:
    return rng.choices(protocols, weights=[p.weight for p in protocols], k=1)[0]


def nhs_number_from(value: int) -> str:
    """A 10-digit NHS-format number in the 999 test range with a valid modulus-11 check digit."""
    candidate = value
    while True:
        digits = [9, 9, 9] + [int(c) for c in f"{candidate % 10**6:06d}"]
        remainder = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 11 - remainder
        if check == 11:
            check = 0
        if check != 10:
            return "".join(str(d) for d in digits) + str(check)
        candidate += 1


class CorpusPlanner:
    """Decides every study of a spec; ``study(i)`` is pure and cheap (no state kept between studies)."""

    def __init__(self, spec: CorpusSpec, catalogue: Catalogue | None = None) -> None:
        self.spec = spec
        self.catalogue = catalogue or load_catalogue()
        phase = stable_int(spec.seed, "phases")
        self._phase = {
            name: ((phase >> (8 * k)) & 0xFF) / 256.0
            for k, name in enumerate(("mg", "rdsr", "child", "wrong", "repeat", "optout", "cumulative"))
        }
        self._per_day = max(1, math.ceil(spec.n_studies / spec.days)) if spec.n_studies else 1

    # -- structure -------------------------------------------------------------------------------
    def modality(self, index: int) -> str:
        return "MG" if spread_flag(index, self.spec.mg_fraction, self._phase["mg"]) else "CT"

    def study_date(self, index: int) -> dt.date:
        offset = (index * self.spec.days) // max(self.spec.n_studies, 1)
        return self.spec.start_date + dt.timedelta(days=offset)

    def patient_slot(self, index: int) -> int:
        """The index of the study that introduced this study's patient (itself unless a repeat)."""
        slot = index
        while (
            self.modality(slot) == "CT"
            and spread_flag(slot, self.spec.repeat_patient_fraction, self._phase["repeat"])
            and slot - self._per_day >= 0
            and self.modality(slot - self._per_day) == "CT"
        ):
            slot -= self._per_day
        return slot

    # -- patients --------------------------------------------------------------------------------
    def patient(self, slot: int) -> PatientPlan:
        spec = self.spec
        people = self.catalogue.people
        rng = rng_for(spec.seed, "patient", slot)
        mammo = self.modality(slot) == "MG"
        is_child = not mammo and spread_flag(slot, spec.paediatric_fraction, self._phase["child"])
        band: int | None = None
        if mammo:
            sex = "F"
            age_days = rng.randint(47 * 365, 73 * 365)
        elif is_child:
            sex = rng.choice(("F", "M"))
            # The n-th child gets the n-th band in turn, so every band appears in small corpora.
            ordinal = int((slot + 1) * spec.paediatric_fraction + self._phase["child"])
            band = CHILD_AGE_BANDS[ordinal % len(CHILD_AGE_BANDS)]
            age_days = rng.randint(40, 330) if band == 0 else int(band * 365.25) + rng.randint(-100, 150)
        else:
            sex = rng.choice(("F", "M"))
            age_days = rng.randint(18 * 365 + 30, 95 * 365)
        birth_date = spec.start_date - dt.timedelta(days=age_days)
        given = rng.choice(people.given_female if sex == "F" else people.given_male)
        family = rng.choice(people.family)
        if band is not None:
            size, weight = CHILD_SIZE[band]
            size = round(size * rng.uniform(0.93, 1.07), 2)
            weight = round(weight * rng.uniform(0.85, 1.15), 1)
        else:
            size = round(rng.uniform(1.52, 1.78) if sex == "F" else rng.uniform(1.62, 1.95), 2)
            weight = round(rng.uniform(48, 105) if sex == "F" else rng.uniform(58, 125), 1)
        number = stable_int(spec.seed, "patient-number", slot)
        house = rng.randint(1, 180)
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        postcode = f"TE{rng.randint(1, 9)} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
        return PatientPlan(
            slot=slot,
            patient_id=f"M{number % 10**7:07d}",
            issuer=ISSUER_OF_PATIENT_ID,
            family_name=family,
            given_name=given,
            sex=sex,
            birth_date=birth_date,
            is_child=is_child,
            age_band=band,
            size_m=size,
            weight_kg=weight,
            nhs_number=nhs_number_from(number >> 32),
            old_mrn=f"OLD{(number >> 64) % 10**6:06d}",
            phone=f"01632 960{rng.randint(0, 999):03d}",
            mobile=f"07700 900{rng.randint(0, 999):03d}",
            email=f"{given.lower()}.{family.lower()}{rng.randint(1, 99)}@example.org",
            address=f"{house} {rng.choice(people.streets)}, {rng.choice(people.towns)}, {postcode}",
            occupation=rng.choice(people.occupations),
            ethnic_group=rng.choice(people.ethnic_groups),
            military_rank=rng.choice(people.military_ranks),
            birth_name=f"{rng.choice(people.family)}^{given}",
            mother_birth_name=f"{rng.choice(people.family)}^{rng.choice(people.given_female)}",
            relative_name=f"{family}^{rng.choice(people.given_female + people.given_male)}",
            opt_out_candidate=spread_flag(slot, spec.opt_out_fraction, self._phase["optout"]),
        )

    # -- studies ---------------------------------------------------------------------------------
    def study(self, index: int) -> StudyPlan:
        spec = self.spec
        cat = self.catalogue
        seed = spec.seed
        rng = rng_for(seed, "study", index)
        modality = self.modality(index)
        patient = self.patient(self.patient_slot(index))
        date = self.study_date(index)
        start = dt.datetime.combine(date, dt.time(8, 0)) + dt.timedelta(
            minutes=rng.randint(0, 600), seconds=rng.randint(0, 59)
        )
        devices = cat.mg_devices if modality == "MG" else cat.ct_devices
        device = rng.choice(devices)
        institution = cat.institutions[device.institution]
        device_plan = DevicePlan(
            device=device,
            manufacturer=rng.choice(device.manufacturer_raw),
            station_name=rng.choice(device.station_raw),
            institution_name=rng.choice(institution.raw),
            institution_canonical=institution.canonical,
            institution_address=institution.address,
            software_version=rng.choice(device.software),
            observer_uid=derive_uid(seed, "device", device.key),
        )
        protocol = _pick_weighted(rng, cat.mg_protocols if modality == "MG" else cat.ct_protocols)
        protocol_raw = rng.choice(protocol.raw)
        description_raw = rng.choice(protocol.raw)
        region = cat.regions[protocol.region]
        body_part_true = region.body_part
        body_part_written = body_part_true
        wrong = (
            modality == "CT"
            and protocol.canonical is not None
            and spread_flag(index, spec.wrong_body_part_fraction, self._phase["wrong"])
        )
        if wrong:
            body_part_written = rng.choice([b for b in WRONG_BODY_PARTS if b != body_part_true])
        years, age_text = patient.age_at(date)
        patient_age = None if rng.random() < 0.06 else age_text
        has_rdsr = modality == "CT" and spread_flag(index, spec.rdsr_fraction, self._phase["rdsr"])
        cumulative = has_rdsr and device.vendor == "Siemens" and rng.random() < spec.cumulative_rdsr_fraction
        people = cat.people
        accession_number = stable_int(seed, "accession", index) % 10**8
        plan = StudyPlan(
            index=index,
            seed=seed,
            modality=modality,
            study_uid=derive_uid(seed, "study", index),
            accession=f"SE{accession_number:08d}",
            study_id=str(1000 + index),
            frame_of_reference_uid=derive_uid(seed, "frame", index),
            study_start=start,
            patient=patient,
            age_years=years,
            patient_age=patient_age,
            device=device_plan,
            protocol=protocol,
            protocol_raw=protocol_raw,
            study_description_raw=description_raw,
            body_part_written=body_part_written,
            body_part_true=body_part_true,
            body_part_wrong=wrong,
            has_rdsr=has_rdsr,
            rdsr_count=(2 if cumulative else 1) if has_rdsr else 0,
            plants_name_in_study_description=spec.plant_phi and index % 3 == 0,
            referring_physician=rng.choice(people.clinicians),
            performing_physician=rng.choice(people.clinicians),
            reading_physician=rng.choice(people.clinicians),
            requesting_physician=rng.choice(people.clinicians),
            operator=rng.choice(people.radiographers),
            mg_series_uid=derive_uid(seed, "series", index, 1) if modality == "MG" else "",
        )
        if modality == "MG":
            return _with(plan, mammo_views=self._mammo_views(rng, plan))
        events = self._ct_events(rng, plan)
        rdsr_series_number = RDSR_SERIES_NUMBER_BY_VENDOR.get(device.vendor, 999)
        return _with(
            plan,
            events=events,
            rdsr_series_number=rdsr_series_number if has_rdsr else 0,
            rdsr_series_uid=derive_uid(seed, "series", index, rdsr_series_number) if has_rdsr else "",
        )

    def _ct_events(self, rng: Random, plan: StudyPlan) -> tuple[EventPlan, ...]:
        device = plan.device.device
        band = plan.patient.age_band
        cat = self.catalogue
        single, total = COLLIMATION_BY_VENDOR.get(device.vendor, (0.625, 40.0))
        acquisitions = plan.protocol.acquisitions
        clock = plan.study_start + dt.timedelta(seconds=60)
        events: list[EventPlan] = []
        # Localiser: covers the whole planned range plus margins; no CT Dose container.
        first_region = cat.regions[acquisitions[0].region]
        length_scale = LENGTH_SCALE[band] if band is not None else 1.0
        scout_length = round(
            sum(a.length_mm[1] for a in acquisitions) * length_scale + rng.randint(40, 120), 1
        )
        scout_exposure = round(rng.uniform(2.0, 5.0), 2)
        events.append(
            EventPlan(
                number=1,
                irradiation_event_uid=derive_uid(plan.seed, "event", plan.index, 1),
                kind="localizer",
                acquisition_protocol=LOCALIZER_NAME_BY_VENDOR.get(device.vendor, "Scout"),
                region_key=first_region.key,
                target_region=first_region.code(device.target_region_scheme),
                acquisition_type=("113805", "DCM", "Constant Angle Acquisition"),
                ctdivol_mgy=None,
                dlp_mgycm=None,
                phantom=None,
                scanning_length_mm=scout_length,
                kvp=120,
                tube_current_ma=rng.choice((10, 20, 35, 50)),
                exposure_time_s=scout_exposure,
                single_collimation_mm=single,
                total_collimation_mm=single * 2,
                pitch=None,
                start=clock,
                n_images=1,
                slice_thickness_mm=round(single * 2, 3),
                first_z_mm=0.0,
                series_number=1,
                series_uid=derive_uid(plan.seed, "series", plan.index, 1),
            )
        )
        clock = events[-1].end + dt.timedelta(seconds=rng.randint(15, 90))
        for number, template in enumerate(acquisitions, start=2):
            events.append(self._ct_event(rng, plan, template, number, clock, single, total))
            clock = events[-1].end + dt.timedelta(seconds=rng.randint(15, 90))
        if self.spec.multiphase_fraction > 0 and plan.protocol.region in MULTIPHASE_REGIONS:
            # A separate generator, so that corpora without multi-phase studies stay byte-identical.
            phase_rng = rng_for(plan.seed, "multiphase", plan.index)
            if phase_rng.random() < self.spec.multiphase_fraction:
                delay = dt.timedelta(seconds=phase_rng.randint(40, 70))
                events.append(
                    self._ct_event(
                        phase_rng,
                        plan,
                        acquisitions[-1],
                        len(events) + 1,
                        events[-1].end + delay,
                        single,
                        total,
                        protocol_suffix=" DELAYED",
                    )
                )
        return tuple(events)

    def _ct_event(
        self,
        rng: Random,
        plan: StudyPlan,
        template: AcquisitionTemplate,
        number: int,
        start: dt.datetime,
        single: float,
        total: float,
        protocol_suffix: str = "",
    ) -> EventPlan:
        device = plan.device.device
        band = plan.patient.age_band
        region = self.catalogue.regions[template.region]
        dose_scale = 1.0
        length_scale = 1.0
        phantom = template.phantom
        kvp = template.kvp
        if band is not None:
            dose_scale = (HEAD_DOSE_SCALE if template.phantom == "head" else BODY_DOSE_SCALE)[band]
            length_scale = LENGTH_SCALE[band]
            kvp = 80 if band <= 1 else 100
            if template.phantom == "body" and device.paediatric_body_phantom == "head":
                phantom = "head"
                dose_scale *= HEAD_PHANTOM_BODY_RATIO
        n_images = self.spec.ct_images_per_series
        target_length = rng.uniform(*template.length_mm) * length_scale
        thickness = max(round(target_length / n_images, 2), 0.01)
        length = round(thickness * n_images, 2)
        ctdivol = round(rng.uniform(*template.ctdivol) * dose_scale, 2)
        dlp = round(ctdivol * length / 10.0, 2)
        exposure = round(rng.uniform(*template.exposure_s) * length_scale, 2)
        if template.type == "sequenced":
            acquisition_type = ("113804", "DCM", "Sequenced Acquisition")
        elif device.spiral_code == "SRT":
            acquisition_type = ("P5-08001", "SRT", "Spiral Acquisition")
        else:
            acquisition_type = ("116152004", "SCT", "Spiral Acquisition")
        return EventPlan(
            number=number,
            irradiation_event_uid=derive_uid(plan.seed, "event", plan.index, number),
            kind=template.type,
            acquisition_protocol=plan.protocol_raw + protocol_suffix,
            region_key=region.key,
            target_region=region.code(device.target_region_scheme),
            acquisition_type=acquisition_type,
            ctdivol_mgy=ctdivol,
            dlp_mgycm=dlp,
            phantom=phantom,
            scanning_length_mm=length,
            kvp=kvp,
            tube_current_ma=rng.randint(*template.ma),
            exposure_time_s=exposure,
            single_collimation_mm=single,
            total_collimation_mm=total,
            pitch=template.pitch,
            start=start,
            n_images=n_images,
            slice_thickness_mm=thickness,
            first_z_mm=round(-rng.uniform(0, 80), 2),
            series_number=number,
            series_uid=derive_uid(plan.seed, "series", plan.index, number),
        )

    def _mammo_views(self, rng: Random, plan: StudyPlan) -> tuple[MammoViewPlan, ...]:
        device = plan.device.device
        clock = plan.study_start + dt.timedelta(seconds=30)
        views = []
        for laterality, view in (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")):
            thickness = round(rng.uniform(38, 72) + (4 if view == "MLO" else 0), 1)
            kvp = min(35, 25 + int((thickness - 30) / 6))
            ma = rng.randint(80, 200)
            time_ms = rng.randint(400, 2200)
            views.append(
                MammoViewPlan(
                    laterality=laterality,
                    view=view,
                    organ_dose_dgy=round(0.006 * thickness * rng.uniform(0.35, 0.6), 4),
                    body_part_thickness_mm=thickness,
                    compression_force_n=round(rng.uniform(60, 150), 1),
                    kvp=kvp,
                    tube_current_ma=ma,
                    exposure_time_ms=time_ms,
                    exposure_mas=round(ma * time_ms / 1000.0, 1),
                    anode=rng.choice(device.anode),
                    filter=rng.choice(device.filter),
                    entrance_dose_mgy=round(thickness * rng.uniform(0.06, 0.15), 2),
                    acquired=clock,
                )
            )
            clock += dt.timedelta(seconds=rng.randint(40, 120))
        return tuple(views)


def _with(plan: StudyPlan, **changes: Any) -> StudyPlan:
    return replace(plan, **changes)
