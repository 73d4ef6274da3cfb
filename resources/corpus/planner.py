"""Decides every study of a corpus spec before any DICOM is written.

A study's plan depends only on the spec and the study's index, so studies can be generated one at a
time in any order. Patients are derived from a "slot" (the index of the study that first introduced
them), so a repeat study of the same patient regenerates the same identity without remembering it.
Which studies are mammograms, children, repeats, opt-outs or carry a dose SR is spread evenly over the
indices by :func:`~resources.corpus.seeding.spread_flag`, each flag with its own phase from the seed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from random import Random
from typing import Any

from resources.corpus.catalogue import Catalogue, Protocol, load_catalogue
from resources.corpus.exposure_planning import plan_ct_events, plan_mammography_views
from resources.corpus.patient_planning import plan_patient
from resources.corpus.plan import DevicePlan, PatientPlan, StudyPlan
from resources.corpus.seeding import derive_uid, rng_for, spread_flag, stable_int
from resources.corpus.spec import CorpusSpec

RDSR_SERIES_NUMBER_BY_VENDOR = {"GE": 999, "Siemens": 501, "Philips": 1000, "Canon": 9001}
WRONG_BODY_PARTS = ("CHEST", "HEAD", "ABDOMEN", "PELVIS", "EXTREMITY")
_PHASED_FLAGS = ("mg", "rdsr", "child", "wrong", "repeat", "optout", "cumulative")


def _pick_weighted(rng: Random, protocols: tuple[Protocol, ...]) -> Protocol:
    return rng.choices(protocols, weights=[p.weight for p in protocols], k=1)[0]


class CorpusPlanner:
    """Decides every study of a spec; ``study(i)`` is pure and cheap (no state kept between studies)."""

    def __init__(self, spec: CorpusSpec, catalogue: Catalogue | None = None) -> None:
        self.spec = spec
        self.catalogue = catalogue or load_catalogue()
        phase = stable_int(spec.seed, "phases")
        self._phase = {name: ((phase >> (8 * k)) & 0xFF) / 256.0 for k, name in enumerate(_PHASED_FLAGS)}
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

    def patient(self, slot: int) -> PatientPlan:
        return plan_patient(
            self.spec,
            self.catalogue.people,
            slot,
            mammography=self.modality(slot) == "MG",
            child_phase=self._phase["child"],
            opt_out_phase=self._phase["optout"],
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
            return _with(plan, mammo_views=plan_mammography_views(rng, plan))
        events = plan_ct_events(rng, plan, spec, cat)
        rdsr_series_number = RDSR_SERIES_NUMBER_BY_VENDOR.get(device.vendor, 999)
        return _with(
            plan,
            events=events,
            rdsr_series_number=rdsr_series_number if has_rdsr else 0,
            rdsr_series_uid=derive_uid(seed, "series", index, rdsr_series_number) if has_rdsr else "",
        )


def _with(plan: StudyPlan, **changes: Any) -> StudyPlan:
    return replace(plan, **changes)
