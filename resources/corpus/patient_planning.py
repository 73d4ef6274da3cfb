"""The synthetic patients: identity, age, size and the identifiers de-identification must remove.

A patient depends only on the spec and its slot (the index of the study that introduced it), so a
repeat study regenerates the same person without remembering it.
"""

from __future__ import annotations

import datetime as dt

from resources.corpus.catalogue import People
from resources.corpus.plan import PatientPlan
from resources.corpus.seeding import rng_for, spread_flag, stable_int
from resources.corpus.spec import CorpusSpec

CHILD_AGE_BANDS = (0, 1, 5, 10, 15)
CHILD_SIZE = {0: (0.65, 7.0), 1: (0.80, 10.5), 5: (1.10, 19.0), 10: (1.40, 32.0), 15: (1.65, 55.0)}
ISSUER_OF_PATIENT_ID = "TESTVILLE PAS"


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


def plan_patient(
    spec: CorpusSpec,
    people: People,
    slot: int,
    *,
    mammography: bool,
    child_phase: float,
    opt_out_phase: float,
) -> PatientPlan:
    """The patient introduced by study ``slot``.

    Parameters
    ----------
    spec
        The corpus spec (seed, start date, paediatric and opt-out fractions).
    people
        The catalogue's names, streets, occupations and the like to draw from.
    slot
        The index of the study that introduced the patient.
    mammography
        Whether that study is a mammogram (the patient is then a woman of screening age).
    child_phase, opt_out_phase
        The spec's phases that spread children and opt-out candidates evenly over the studies.
    """
    rng = rng_for(spec.seed, "patient", slot)
    is_child = not mammography and spread_flag(slot, spec.paediatric_fraction, child_phase)
    band: int | None = None
    if mammography:
        sex = "F"
        age_days = rng.randint(47 * 365, 73 * 365)
    elif is_child:
        sex = rng.choice(("F", "M"))
        # The n-th child gets the n-th band in turn, so every band appears in small corpora.
        ordinal = int((slot + 1) * spec.paediatric_fraction + child_phase)
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
        opt_out_candidate=spread_flag(slot, spec.opt_out_fraction, opt_out_phase),
    )
