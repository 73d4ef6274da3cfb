"""Mean glandular dose from exposure factors with the Dance model: MGD = K x g x c x s.

K is the incident air kerma at the top surface of the compressed breast (no backscatter), g converts it
to MGD for a 50% glandular breast (Dance 1990, extended by Dance et al 2000), c corrects for the typical
glandularity of women aged 50-64 (Dance et al 2000), s for the spectrum (Dance et al 2000; tungsten/silver
Dance et al 2009). The tables and their sources are the CSV files beside this module.

Not covered, and said so rather than guessed: tomosynthesis (the t-factors of Dance et al 2011 and the
EUREF 2014 protocol were not available here, so a tomosynthesis exposure gets no MGD), W/Al (its s-factor
depends on thickness, Dance 2009, table not available) and breasts outside 20-110 mm or HVLs outside
0.30-0.60 mm Al (no extrapolation). What was searched for the two tables is in ``s_factors.csv``'s header
(W/Al) and here (T-factors): the code index for tomosynthesis T/t-factor tables and DBT dose tools (found
reconstruction and breast-CT dose code, none with Dance's factors), the documentation index for DBT dose
packages (none), and the web-page store for Dance et al 2011 (Phys Med Biol 56:453-471) and the EUREF 2014
DBT protocol (only listings citing them and the NCCPM page pointing to the factors' download, no table).
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.dose.mammography.factors import DanceTables, dance_tables
from resources.dose.mammography.qa_file import material_term


@dataclass(frozen=True, slots=True)
class MgdResult:
    """The Dance MGD, or None with the reason; the factors used are kept for the audit trail."""

    mgd_mgy: float | None
    reason: str | None = None
    k_mgy: float | None = None
    hvl_mm_al: float | None = None
    g: float | None = None
    c: float | None = None
    s: float | None = None


def incident_air_kerma_mgy(
    output_ugy_per_mas: float, mas: float, output_distance_mm: float, focus_to_breast_mm: float
) -> float:
    """K at the breast's top surface: output x mAs scaled by the inverse square law (uGy -> mGy)."""
    return output_ugy_per_mas * mas * (output_distance_mm / focus_to_breast_mm) ** 2 / 1000.0


def mean_glandular_dose(
    k_mgy: float | None,
    thickness_mm: float | None,
    hvl_mm_al: float | None,
    target: str | None,
    filter_material: str | None,
    *,
    tomosynthesis: bool = False,
    tables: DanceTables | None = None,
) -> MgdResult:
    """MGD (mGy) for one 2D exposure; None with the reason where the model cannot be applied."""
    tables = tables or dance_tables()
    if tomosynthesis:
        return MgdResult(None, "tomosynthesis: t-factors (Dance 2011 / EUREF 2014) not available")
    if k_mgy is None or k_mgy <= 0:
        return MgdResult(None, "no incident air kerma")
    if thickness_mm is None or thickness_mm <= 0:
        return MgdResult(None, "no compressed breast thickness", k_mgy=k_mgy)
    if hvl_mm_al is None:
        return MgdResult(None, "no HVL", k_mgy=k_mgy)
    pair = (material_term(target) or "", material_term(filter_material) or "")
    s = tables.s.get(pair)
    if s is None:
        return MgdResult(None, f"no s-factor for {pair[0] or '?'}/{pair[1] or '?'}", k_mgy=k_mgy)
    thickness_in, hvl_in = tables.g.covers(thickness_mm, hvl_mm_al)
    if not thickness_in:
        return MgdResult(
            None, f"thickness {thickness_mm:g} mm outside the Dance tables (20-110 mm)", k_mgy=k_mgy
        )
    if not hvl_in:
        return MgdResult(None, f"HVL {hvl_mm_al:g} mm Al outside the Dance tables (0.30-0.60)", k_mgy=k_mgy)
    g = tables.g.value(thickness_mm, hvl_mm_al)
    c = tables.c.value(thickness_mm, hvl_mm_al)
    if g is None or c is None:
        return MgdResult(None, "outside the c-factor table", k_mgy=k_mgy)
    return MgdResult(k_mgy * g * c * s, None, k_mgy, hvl_mm_al, g, c, s)


def percent_difference(computed: float | None, reported: float | None) -> float | None:
    """(computed - reported) / reported in percent; None when either is missing or reported is 0."""
    if computed is None or reported is None or reported <= 0:
        return None
    return (computed - reported) / reported * 100.0
