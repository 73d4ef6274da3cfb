"""The Dance model (MGD = K x g x c x s): the factor tables against independent published values, the
interpolation rule, the reasons given where the model cannot be applied, and malformed tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.dose.mammography.dance import incident_air_kerma_mgy, mean_glandular_dose, percent_difference
from resources.dose.mammography.errors import FactorTableError
from resources.dose.mammography.factors import dance_tables, load_grid, load_s_factors

# An independently published cubic fit of the Dance g-factor against breast thickness t (cm) for each
# HVL, g = a0 + a1 t + a2 t^2 + a3 t^3 (a public MGD calculator's coefficients). A fit, not the table:
# agreement within a few per cent with a smooth residual is what a correct transcription shows.
G_FIT = {
    0.30: (0.6862414, -0.1903851, 0.0211549, -0.0008170),
    0.35: (0.7520924, -0.2040045, 0.0223514, -0.0008553),
    0.40: (0.8135159, -0.2167391, 0.0234949, -0.0008925),
    0.45: (0.8587792, -0.2213542, 0.0235061, -0.0008817),
    0.50: (0.8926865, -0.2192870, 0.0224164, -0.0008171),
    0.55: (0.9237367, -0.2189931, 0.0221241, -0.0008050),
    0.60: (0.9131422, -0.1996713, 0.0190965, -0.0006696),
}
# s-factors as published: Dance et al 2000 (Mo/Mo ... W/Rh), Dance et al 2009 abstract (W/Ag 1.042).
PUBLISHED_S = {
    ("MOLYBDENUM", "MOLYBDENUM"): 1.000,
    ("MOLYBDENUM", "RHODIUM"): 1.017,
    ("RHODIUM", "RHODIUM"): 1.061,
    ("RHODIUM", "ALUMINUM"): 1.044,
    ("TUNGSTEN", "RHODIUM"): 1.042,
    ("TUNGSTEN", "SILVER"): 1.042,
}


def test_g_table_agrees_with_the_independent_published_fit_within_seven_percent() -> None:
    tables = dance_tables()
    worst = 0.0
    for thickness in tables.g.thicknesses:
        for hvl in tables.g.hvls:
            a0, a1, a2, a3 = G_FIT[hvl]
            t = thickness / 10.0
            fitted = a0 + a1 * t + a2 * t * t + a3 * t**3
            tabulated = tables.g.values[(thickness, hvl)]
            worst = max(worst, abs(fitted - tabulated) / tabulated)
    assert worst < 0.07, f"g table differs from the published fit by {worst:.1%}"


def test_g_falls_with_thickness_and_rises_with_hvl_everywhere() -> None:
    g = dance_tables().g
    for i, t in enumerate(g.thicknesses):
        for j, h in enumerate(g.hvls):
            if i:
                assert g.values[(t, h)] < g.values[(g.thicknesses[i - 1], h)]
            if j:
                assert g.values[(t, h)] > g.values[(t, g.hvls[j - 1])]


def test_c_is_one_at_the_glandularity_of_a_40_mm_breast_and_grows_with_thickness() -> None:
    c = dance_tables().c
    assert all(c.values[(40.0, h)] == 1.0 for h in c.hvls)
    for h in c.hvls:
        column = [c.values[(t, h)] for t in c.thicknesses]
        assert column[0] < 1.0 < column[-1]


def test_s_factors_are_the_published_ones() -> None:
    assert dance_tables().s == PUBLISHED_S


def test_bilinear_interpolation_between_grid_points() -> None:
    g = dance_tables().g
    assert g.value(50, 0.40) == g.values[(50.0, 0.40)]
    corners = [g.values[(50.0, 0.40)], g.values[(50.0, 0.45)], g.values[(60.0, 0.40)], g.values[(60.0, 0.45)]]
    assert g.value(55, 0.425) == pytest.approx(sum(corners) / 4)
    assert g.value(110, 0.60) == g.values[(110.0, 0.60)]  # the last grid edge is inside
    assert g.value(19.9, 0.40) is None and g.value(50, 0.61) is None  # never extrapolated


def test_mgd_is_k_times_g_c_s_at_a_grid_point() -> None:
    tables = dance_tables()
    result = mean_glandular_dose(4.0, 60, 0.50, "W", "RH")
    expected = 4.0 * tables.g.values[(60.0, 0.50)] * tables.c.values[(60.0, 0.50)] * 1.042
    assert result.mgd_mgy == pytest.approx(expected)
    assert (result.g, result.c, result.s) == (
        tables.g.values[(60.0, 0.50)],
        tables.c.values[(60.0, 0.50)],
        1.042,
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"target": "TUNGSTEN", "filter_material": "ALUMINUM"}, "no s-factor for TUNGSTEN/ALUMINUM"),
        ({"thickness_mm": 18.0}, "thickness 18 mm outside"),
        ({"thickness_mm": 115.0}, "thickness 115 mm outside"),
        ({"hvl_mm_al": 0.25}, "HVL 0.25 mm Al outside"),
        ({"hvl_mm_al": None}, "no HVL"),
        ({"k_mgy": None}, "no incident air kerma"),
        ({"tomosynthesis": True}, "tomosynthesis"),
    ],
)
def test_no_mgd_with_the_reason_where_the_model_does_not_apply(kwargs: dict, reason: str) -> None:
    arguments = {
        "k_mgy": 5.0,
        "thickness_mm": 50.0,
        "hvl_mm_al": 0.45,
        "target": "RHODIUM",
        "filter_material": "RHODIUM",
        "tomosynthesis": False,
    }
    arguments.update(kwargs)
    result = mean_glandular_dose(
        arguments["k_mgy"],
        arguments["thickness_mm"],
        arguments["hvl_mm_al"],
        arguments["target"],
        arguments["filter_material"],
        tomosynthesis=arguments["tomosynthesis"],
    )
    assert result.mgd_mgy is None
    assert result.reason is not None and result.reason.startswith(reason)


def test_incident_air_kerma_follows_the_inverse_square_law() -> None:
    # 50 uGy/mAs at 600 mm, 100 mAs, breast top at 600 mm: 5 mGy; at 300 mm four times that.
    assert incident_air_kerma_mgy(50.0, 100.0, 600.0, 600.0) == pytest.approx(5.0)
    assert incident_air_kerma_mgy(50.0, 100.0, 600.0, 300.0) == pytest.approx(20.0)


def test_percent_difference_against_the_reported_figure() -> None:
    assert percent_difference(1.1, 1.0) == pytest.approx(10.0)
    assert percent_difference(None, 1.0) is None and percent_difference(1.0, 0.0) is None


def test_a_grid_with_a_hole_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("# a table\nthickness_mm,hvl_mm_al,g\n20,0.30,0.39\n20,0.35,0.43\n30,0.30,0.27\n")
    with pytest.raises(FactorTableError, match=r"g\.csv: grid incomplete"):
        load_grid(path, "g")


def test_a_non_numeric_factor_is_refused_naming_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("target,filter,s\nTUNGSTEN,RHODIUM,one\n")
    with pytest.raises(FactorTableError, match=r"s\.csv: row 1: s: not a number"):
        load_s_factors(path)
