"""Size-specific dose estimate (AAPM Reports 204 and 220): the fit, Dw from an image, SSDE per event."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from resources.dose.dose_rows import EventSeriesLinkRow, IrradiationEventRow
from resources.dose.event_ssde import events_with_ssde
from resources.dose.ssde import (
    conversion_factor,
    effective_diameter_mm,
    fit_parameters,
    ssde_from_diameter,
    water_equivalent_diameter_mm,
)
from tests.dicom_builder import write_instance
from tests.dose.conftest import ct_image

STUDY, SERIES, EVENT = "2.25.100", "2.25.101", "2.25.102"


def disc(hu_inside: float, radius_mm: float, size: int = 128, spacing_mm: float = 2.0) -> np.ndarray:
    """An axial image of air (-1000 HU) with a centred disc of ``hu_inside``."""
    centre = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size]
    inside = ((x - centre) ** 2 + (y - centre) ** 2) * spacing_mm**2 <= radius_mm**2
    return np.where(inside, hu_inside, -1000.0)


def test_report_204_fit_parameters() -> None:
    # AAPM Report 204's exponential fit of f = a exp(-b D), D in cm (the values in ssde/aapm204_fit.csv).
    assert fit_parameters() == {32: (3.704369, 0.03671937), 16: (1.874799, 0.03871313)}
    assert conversion_factor(20.0, 32) == pytest.approx(3.704369 * math.exp(-0.03671937 * 20.0))
    # The fit's a is f at zero size; f falls with size and is larger for the body phantom.
    assert conversion_factor(30.0, 32) < conversion_factor(20.0, 32) < 3.704369
    assert conversion_factor(15.0, 16) == pytest.approx(1.874799 * math.exp(-0.03871313 * 15.0))
    with pytest.raises(ValueError, match="24 cm phantom"):
        conversion_factor(20.0, 24)


def test_water_equivalent_diameter_of_water_and_of_a_lighter_tissue() -> None:
    dw, reason = water_equivalent_diameter_mm(disc(0.0, 100.0), (2.0, 2.0))
    assert reason is None and dw == pytest.approx(200.0, rel=0.01)  # water: Dw = geometric diameter
    # Report 220: Aw weights each pixel by (HU/1000 + 1); at -200 HU a disc is Dw = D sqrt(0.8).
    dw_fat, _ = water_equivalent_diameter_mm(disc(-200.0, 100.0), (2.0, 2.0))
    assert dw_fat == pytest.approx(200.0 * math.sqrt(0.8), rel=0.01)
    # The DICOMwaterequivalent README's example: Aw = 26328.33 mm2 gives Dw = 183.09 mm.
    assert 2 * math.sqrt(26328.33432149283 / math.pi) == pytest.approx(183.0908965654292)


def test_truncated_or_empty_images_give_no_diameter() -> None:
    dw, reason = water_equivalent_diameter_mm(disc(0.0, 200.0, size=64), (2.0, 2.0))
    assert dw is None and reason is not None and "edge" in reason
    dw, reason = water_equivalent_diameter_mm(np.full((32, 32), -1000.0), (1.0, 1.0))
    assert dw is None and reason is not None and "no patient" in reason


def test_ssde_from_a_size_and_its_reasons() -> None:
    result = ssde_from_diameter(10.0, "body_32cm", 250.0, "image_dw_aapm220")
    assert result.ssde_mgy == pytest.approx(10.0 * 3.704369 * math.exp(-0.03671937 * 25.0))
    assert result.method == "image_dw_aapm220" and result.factor == pytest.approx(result.ssde_mgy / 10.0)
    assert effective_diameter_mm(200.0, 320.0) == pytest.approx(math.sqrt(200.0 * 320.0))
    assert ssde_from_diameter(None, "body_32cm", 250.0, "x").reason == "no CTDIvol"
    assert ssde_from_diameter(10.0, None, 250.0, "x").reason == "CTDIvol phantom unknown"
    assert ssde_from_diameter(10.0, "head_16cm", None, "x").ssde_mgy is None


def _event(**values: object) -> IrradiationEventRow:
    base: dict[str, object] = {
        "study_instance_uid": STUDY,
        "irradiation_event_uid": EVENT,
        "event_index": 0,
        "origin": "rdsr",
        "ctdivol_mgy": 12.0,
        "phantom": "body_32cm",
    }
    return IrradiationEventRow(**{**base, **values})  # type: ignore[arg-type]


def _image_file(folder: Path, pixels: np.ndarray) -> Path:
    ds = ct_image(STUDY, SERIES, z=0.0, event_uid=EVENT)
    stored = (pixels + 1024).astype(np.uint16)
    ds.Rows, ds.Columns = stored.shape
    ds.PixelSpacing = [2.0, 2.0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = stored.tobytes()
    return write_instance(ds, folder)


def test_events_get_ssde_from_their_image_with_the_method(tmp_path: Path) -> None:
    files = [_image_file(tmp_path, disc(0.0, 125.0))]
    link = EventSeriesLinkRow(STUDY, EVENT, SERIES, "irradiation_event_uid")
    [event] = events_with_ssde([_event()], [link], files)
    expected = 12.0 * 3.704369 * math.exp(-0.03671937 * 25.0)
    assert event.ssde_method == "image_dw_aapm220"
    assert event.ssde_mgy == pytest.approx(expected, rel=0.02)
    assert event.water_equivalent_diameter_mm == pytest.approx(250.0, rel=0.01)


def test_reported_ssde_kept_and_fallbacks_say_so(tmp_path: Path) -> None:
    link = EventSeriesLinkRow(STUDY, EVENT, SERIES, "irradiation_event_uid")
    reported, from_dw, none = events_with_ssde(
        [
            _event(ssde_mgy=15.0),
            _event(event_index=1, irradiation_event_uid="2.25.9", water_equivalent_diameter_mm=300.0),
            _event(event_index=2, irradiation_event_uid="2.25.8"),
        ],
        [link],
        [_image_file(tmp_path, disc(0.0, 400.0))],  # truncated: no Dw from this image
    )
    assert (reported.ssde_mgy, reported.ssde_method) == (15.0, "rdsr")
    assert from_dw.ssde_method == "rdsr_dw_aapm204"
    assert from_dw.ssde_mgy == pytest.approx(12.0 * 3.704369 * math.exp(-0.03671937 * 30.0))
    assert none.ssde_mgy is None and none.ssde_method is None and "ssde_no_linked_series" in none.flags
    [truncated] = events_with_ssde([_event()], [link], [_image_file(tmp_path / "t", disc(0.0, 400.0))])
    assert truncated.ssde_mgy is None and "ssde_image_truncated" in truncated.flags
