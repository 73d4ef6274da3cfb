"""What corpus to generate: the seed and the knobs."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CorpusSpec:
    """The parameters of a synthetic corpus; the same spec always gives byte-identical files.

    Parameters
    ----------
    seed
        Root of every random choice and UID.
    n_studies
        Number of studies (CT and mammography together).
    start_date, days
        Study dates are spread evenly over ``days`` days from ``start_date``.
    ct_images_per_series
        Images in each CT image series (one series per irradiation event; localisers have one image).
    header_only
        Leave out Pixel Data (fast; the files are then not complete image IODs).
    plant_phi
        Plant identifiers in free text, nested sequences, private blocks and SR content items.
    rdsr_fraction
        Share of CT studies that carry a CT radiation dose SR.
    mg_fraction
        Share of studies that are mammography.
    paediatric_fraction
        Share of CT patients who are children (0, 1, 5, 10 and 15 year bands).
    cumulative_rdsr_fraction
        Share of Siemens CT studies with a dose SR that send two cumulative dose SRs.
    wrong_body_part_fraction
        Share of CT studies whose Body Part Examined contradicts the (clear) description.
    repeat_patient_fraction
        Share of CT studies that belong to a patient already scanned on an earlier day.
    opt_out_fraction
        Share of patients marked as opt-out candidates in the manifest.
    multiphase_fraction
        Share of abdomen-pelvis and chest-abdomen-pelvis CT studies with a second, delayed spiral
        event (off by default: with it, a study's mean CTDIvol differs from its single sequence's).
    """

    seed: int = 2026
    n_studies: int = 40
    start_date: dt.date = field(default_factory=lambda: dt.date(2026, 11, 9))
    days: int = 7
    ct_images_per_series: int = 12
    header_only: bool = False
    plant_phi: bool = True
    rdsr_fraction: float = 0.8
    mg_fraction: float = 0.25
    paediatric_fraction: float = 0.15
    cumulative_rdsr_fraction: float = 0.5
    wrong_body_part_fraction: float = 0.15
    repeat_patient_fraction: float = 0.2
    opt_out_fraction: float = 0.05
    multiphase_fraction: float = 0.0

    def __post_init__(self) -> None:
        """Check the knobs.

        Raises
        ------
        ValueError
            If a count is out of range or a fraction is outside [0, 1].
        """
        if self.n_studies < 0:
            raise ValueError("n_studies must be >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.ct_images_per_series < 1:
            raise ValueError("ct_images_per_series must be >= 1")
        for name in (
            "rdsr_fraction",
            "mg_fraction",
            "paediatric_fraction",
            "cumulative_rdsr_fraction",
            "wrong_body_part_fraction",
            "repeat_patient_fraction",
            "opt_out_fraction",
            "multiphase_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusSpec:
        values = dict(data)
        values["start_date"] = dt.date.fromisoformat(values["start_date"])
        return cls(**values)
