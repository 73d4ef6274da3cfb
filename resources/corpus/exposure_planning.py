"""The exposures of a planned study: CT irradiation events (TID 10013) and mammography views.

Paediatric scans scale the adult protocol's CTDIvol and scan length by age band; a body scan that a
device reports on the 16 cm head phantom reads about twice the 32 cm value. Each event's DLP is
CTDIvol x scanning length / 10, so images, dose SRs and the manifest agree by construction.
"""

from __future__ import annotations

import datetime as dt
from random import Random

from resources.corpus.catalogue import AcquisitionTemplate, Catalogue
from resources.corpus.plan import EventPlan, MammoViewPlan, StudyPlan
from resources.corpus.seeding import derive_uid, rng_for
from resources.corpus.spec import CorpusSpec

# Paediatric CTDIvol and scan-length scale factors relative to the adult protocol, by age band.
HEAD_DOSE_SCALE = {0: 0.45, 1: 0.55, 5: 0.65, 10: 0.8, 15: 0.95}
BODY_DOSE_SCALE = {0: 0.25, 1: 0.3, 5: 0.4, 10: 0.55, 15: 0.8}
LENGTH_SCALE = {0: 0.45, 1: 0.55, 5: 0.7, 10: 0.85, 15: 0.95}
# A body scan reported on the 16 cm head phantom reads about twice the 32 cm value.
HEAD_PHANTOM_BODY_RATIO = 2.2
COLLIMATION_BY_VENDOR = {
    "GE": (0.625, 40.0),
    "Siemens": (0.6, 38.4),
    "Philips": (0.625, 40.0),
    "Canon": (0.5, 40.0),
}
LOCALIZER_NAME_BY_VENDOR = {"GE": "Scout", "Siemens": "Topogram", "Philips": "Surview", "Canon": "Scanogram"}
# Regions whose examinations sometimes have a second (delayed) phase when multi-phase is enabled.
MULTIPHASE_REGIONS = frozenset({"abdomen_pelvis", "chest_abdomen_pelvis"})
MAMMOGRAPHY_VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))


def plan_ct_events(
    rng: Random, plan: StudyPlan, spec: CorpusSpec, catalogue: Catalogue
) -> tuple[EventPlan, ...]:
    """A localiser, one event per acquisition of the protocol and, sometimes, a delayed phase."""
    device = plan.device.device
    band = plan.patient.age_band
    single, total = COLLIMATION_BY_VENDOR.get(device.vendor, (0.625, 40.0))
    acquisitions = plan.protocol.acquisitions
    clock = plan.study_start + dt.timedelta(seconds=60)
    events: list[EventPlan] = []
    # Localiser: covers the whole planned range plus margins; no CT Dose container.
    first_region = catalogue.regions[acquisitions[0].region]
    length_scale = LENGTH_SCALE[band] if band is not None else 1.0
    scout_length = round(sum(a.length_mm[1] for a in acquisitions) * length_scale + rng.randint(40, 120), 1)
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
        events.append(_ct_event(rng, plan, spec, catalogue, template, number, clock, single, total))
        clock = events[-1].end + dt.timedelta(seconds=rng.randint(15, 90))
    if spec.multiphase_fraction > 0 and plan.protocol.region in MULTIPHASE_REGIONS:
        # A separate generator, so that corpora without multi-phase studies stay byte-identical.
        phase_rng = rng_for(plan.seed, "multiphase", plan.index)
        if phase_rng.random() < spec.multiphase_fraction:
            delay = dt.timedelta(seconds=phase_rng.randint(40, 70))
            events.append(
                _ct_event(
                    phase_rng,
                    plan,
                    spec,
                    catalogue,
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
    rng: Random,
    plan: StudyPlan,
    spec: CorpusSpec,
    catalogue: Catalogue,
    template: AcquisitionTemplate,
    number: int,
    start: dt.datetime,
    single: float,
    total: float,
    protocol_suffix: str = "",
) -> EventPlan:
    device = plan.device.device
    band = plan.patient.age_band
    region = catalogue.regions[template.region]
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
    n_images = spec.ct_images_per_series
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


def plan_mammography_views(rng: Random, plan: StudyPlan) -> tuple[MammoViewPlan, ...]:
    """The four screening views (right and left, cranio-caudal then medio-lateral oblique)."""
    device = plan.device.device
    clock = plan.study_start + dt.timedelta(seconds=30)
    views = []
    for laterality, view in MAMMOGRAPHY_VIEWS:
        thickness = round(rng.uniform(38, 72) + (4 if view == "MLO" else 0), 1)
        kvp = min(35, 25 + int((thickness - 30) / 6))
        ma = rng.randint(80, 200)
        time_ms = rng.randint(400, 2200)
        views.append(
            MammoViewPlan(
                laterality=laterality,
                view=view,
                # Organ Dose is in dGy: 0.0006 x thickness gives 1-2.5 mGy, UK screening doses.
                organ_dose_dgy=round(0.0006 * thickness * rng.uniform(0.35, 0.6), 5),
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
