"""National mammography DRLs by compressed breast thickness band (``drl_by_thickness.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from resources.dose.mammography.errors import FactorTableError

DRL_FILE = Path(__file__).resolve().parent / "drl_by_thickness.csv"


@dataclass(frozen=True)
class ThicknessDrl:
    drl_set: str
    view: str  # CC | MLO | ANY
    min_mm: float
    max_mm: float
    drl_mgy: float
    source: str


def load_thickness_drls(drl_set: str, path: Path = DRL_FILE) -> list[ThicknessDrl]:
    """The bands of one DRL set.

    Raises
    ------
    FactorTableError
        When the file is unreadable, a number is malformed, or the set is not in the file.
    """
    try:
        with path.open(newline="") as handle:
            lines = [line for line in handle if line.strip() and not line.startswith("#")]
    except OSError as exc:
        raise FactorTableError(f"{path}: cannot read: {exc.strerror}") from exc
    bands: list[ThicknessDrl] = []
    known: set[str] = set()
    for line, row in enumerate(csv.DictReader(lines), start=1):
        known.add(row.get("drl_set", ""))
        if row.get("drl_set") != drl_set:
            continue
        try:
            bands.append(
                ThicknessDrl(
                    drl_set,
                    (row.get("view") or "ANY").strip().upper(),
                    float(row["min_mm"]),
                    float(row["max_mm"]),
                    float(row["drl_mgy"]),
                    row.get("source") or "",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FactorTableError(
                f"{path}: row {line}: a band needs numeric min_mm, max_mm, drl_mgy"
            ) from exc
    if not bands:
        raise FactorTableError(f"{path}: no DRL set {drl_set!r} (the file has {', '.join(sorted(known))})")
    return bands


def drl_for_band(bands: list[ThicknessDrl], view: str, band_min: float, band_max: float) -> float | None:
    """The DRL of the set's band that contains the whole thickness band, for this view or ANY."""
    for band in bands:
        if band.view in (view, "ANY") and band.min_mm <= band_min and band_max <= band.max_mm:
            return band.drl_mgy
    return None
