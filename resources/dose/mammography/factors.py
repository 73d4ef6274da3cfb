"""The Dance conversion-factor tables (g, c, s) read from their versioned CSV files, with interpolation.

Each CSV file names its source and its interpolation rule in its ``#`` header. g and c are grids over
breast thickness (mm) and HVL (mm Al), interpolated bilinearly and never extrapolated; s is one value per
target/filter combination.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.dose.mammography.errors import FactorTableError

TABLE_FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FactorGrid:
    """A factor tabulated on a (thickness mm, HVL mm Al) grid."""

    name: str
    source_file: str
    thicknesses: tuple[float, ...]
    hvls: tuple[float, ...]
    values: dict[tuple[float, float], float]

    def value(self, thickness_mm: float, hvl_mm_al: float) -> float | None:
        """Bilinear interpolation; None outside the grid (the caller records why)."""
        t = _bracket(self.thicknesses, thickness_mm)
        h = _bracket(self.hvls, hvl_mm_al)
        if t is None or h is None:
            return None
        (t0, t1, ft), (h0, h1, fh) = t, h
        v00 = self.values[(t0, h0)]
        v01 = self.values[(t0, h1)]
        v10 = self.values[(t1, h0)]
        v11 = self.values[(t1, h1)]
        low = v00 + (v01 - v00) * fh
        high = v10 + (v11 - v10) * fh
        return low + (high - low) * ft

    def covers(self, thickness_mm: float, hvl_mm_al: float) -> tuple[bool, bool]:
        return (
            self.thicknesses[0] <= thickness_mm <= self.thicknesses[-1],
            self.hvls[0] <= hvl_mm_al <= self.hvls[-1],
        )


def _bracket(axis: tuple[float, ...], x: float) -> tuple[float, float, float] | None:
    if x < axis[0] or x > axis[-1]:
        return None
    i = bisect.bisect_right(axis, x)
    if i >= len(axis):
        return axis[-1], axis[-1], 0.0
    lo, hi = axis[i - 1], axis[i]
    return lo, hi, (x - lo) / (hi - lo)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise FactorTableError(f"{path}: cannot read factor table: {exc.strerror}") from exc
    return list(csv.DictReader(lines))


def _number(path: Path, line: int, field: str, text: str | None) -> float:
    try:
        return float(text or "")
    except ValueError as exc:
        raise FactorTableError(f"{path}: row {line}: {field}: not a number") from exc


def load_grid(path: Path, column: str) -> FactorGrid:
    """Read a g or c table.

    Raises
    ------
    FactorTableError
        When the file is missing, a value is not a number or the grid has holes.
    """
    values: dict[tuple[float, float], float] = {}
    for line, row in enumerate(_rows(path), start=1):
        key = (
            _number(path, line, "thickness_mm", row.get("thickness_mm")),
            _number(path, line, "hvl_mm_al", row.get("hvl_mm_al")),
        )
        values[key] = _number(path, line, column, row.get(column))
    thicknesses = tuple(sorted({k[0] for k in values}))
    hvls = tuple(sorted({k[1] for k in values}))
    if len(thicknesses) < 2 or len(hvls) < 2:
        raise FactorTableError(f"{path}: a factor grid needs at least two thicknesses and two HVLs")
    missing = [(t, h) for t in thicknesses for h in hvls if (t, h) not in values]
    if missing:
        raise FactorTableError(f"{path}: grid incomplete, no value at thickness/HVL {missing[0]}")
    return FactorGrid(column, path.name, thicknesses, hvls, values)


def load_s_factors(path: Path) -> dict[tuple[str, str], float]:
    """Read the s-factor table: (target, filter) in DICOM defined terms -> s.

    Raises
    ------
    FactorTableError
        When the file is missing or a value is not a number.
    """
    return {
        (row.get("target", "").strip().upper(), row.get("filter", "").strip().upper()): _number(
            path, line, "s", row.get("s")
        )
        for line, row in enumerate(_rows(path), start=1)
    }


@dataclass(frozen=True)
class DanceTables:
    g: FactorGrid
    c: FactorGrid
    s: dict[tuple[str, str], float]


@cache
def dance_tables(folder: Path = TABLE_FOLDER) -> DanceTables:
    """The shipped g, c and s tables (read once)."""
    return DanceTables(
        g=load_grid(folder / "g_factors.csv", "g"),
        c=load_grid(folder / "c_factors.csv", "c"),
        s=load_s_factors(folder / "s_factors.csv"),
    )
