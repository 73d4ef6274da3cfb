"""Estimation from image headers (first/last instance only, single instance) and SR-to-series linking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from resources.dose.estimate import estimate_events
from resources.dose.image_headers import ImageHeader, read_image_header
from resources.dose.linking import (
    LINK_BY_PROTOCOL,
    LINK_BY_TIME,
    LINK_BY_TIME_AND_PROTOCOL,
    LINK_BY_UID,
    link_events,
    summarise_series,
)
from resources.dose.rdsr.ct_radiation_dose import read_dataset
from tests.dicom_builder import write_file
from tests.dose.conftest import ct_event, ct_image, rdsr_dataset

T0 = dt.datetime(2026, 1, 5, 10, 0, 0)


def headers(tmp_path: Path, datasets: Iterable[Dataset]) -> list[ImageHeader]:
    return [read_image_header(write_file(ds, tmp_path / f"{index}.dcm")) for index, ds in enumerate(datasets)]


def test_first_and_last_slice_give_length_and_dlp(tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    # Only the first and last instance were retrieved (metadata policy); tube current modulation makes
    # their CTDIvol differ.
    series_headers = headers(
        tmp_path,
        [ct_image(study, series, z=-100.0, ctdivol=9.0), ct_image(study, series, z=245.0, ctdivol=11.0)],
    )
    (event,) = estimate_events(summarise_series(series_headers))
    assert event.scanning_length_mm == pytest.approx(345.0 + 5.0)
    assert event.ctdivol_mgy == pytest.approx(10.0)
    assert event.dlp_mgycm == pytest.approx(10.0 * 35.0)
    assert "estimated" in event.flags and "no_event_uid_may_double_count" in event.flags


def test_single_instance_means_unknown_length_and_no_dlp(tmp_path: Path) -> None:
    study = generate_uid()
    (event,) = estimate_events(summarise_series(headers(tmp_path, [ct_image(study, generate_uid(), z=0.0)])))
    assert event.ctdivol_mgy == pytest.approx(10.0)
    assert event.scanning_length_mm is None and event.dlp_mgycm is None
    assert "length_unknown_single_instance" in event.flags


def test_reconstructions_of_one_acquisition_count_once(tmp_path: Path) -> None:
    study, uid = generate_uid(), generate_uid()
    thin, thick = generate_uid(), generate_uid()
    datasets = [
        ct_image(study, thin, z=0.0, event_uid=uid, thickness=1.0),
        ct_image(study, thin, z=299.0, event_uid=uid, thickness=1.0),
        ct_image(study, thick, z=0.0, event_uid=uid, thickness=5.0),
        ct_image(study, thick, z=295.0, event_uid=uid, thickness=5.0),
    ]
    (event,) = estimate_events(summarise_series(headers(tmp_path, datasets)))
    assert event.irradiation_event_uid == uid
    assert set(event.series_instance_uids) == {thin, thick}
    assert event.dlp_mgycm == pytest.approx(10.0 * 30.0)


def test_links_by_uid_then_time_and_protocol(tmp_path: Path) -> None:
    study = generate_uid()
    chest_uid, abdo_uid = generate_uid(), generate_uid()
    report = read_dataset(
        rdsr_dataset(
            [ct_event(chest_uid, protocol="Chest"), ct_event(abdo_uid, protocol="Abdo")], study_uid=study
        )
    )
    events = [
        e.__class__(
            **{**{f: getattr(e, f) for f in e.__slots__}, "start_datetime": T0 + dt.timedelta(minutes=i)}
        )
        for i, e in enumerate(report.events)
    ]
    by_uid, by_time_protocol, by_time, far = (generate_uid() for _ in range(4))
    datasets = [
        ct_image(study, by_uid, z=0.0, event_uid=chest_uid, acquired=T0 + dt.timedelta(hours=3)),
        ct_image(study, by_time_protocol, z=0.0, protocol="Abdo", acquired=T0 + dt.timedelta(seconds=5)),
        ct_image(study, by_time, z=0.0, protocol="Other", acquired=T0 + dt.timedelta(seconds=20)),
        ct_image(study, far, z=0.0, protocol="Chest", acquired=T0 + dt.timedelta(minutes=30)),
    ]
    links = {
        link.series_instance_uid: link
        for link in link_events(events, summarise_series(headers(tmp_path, datasets)))
    }
    assert (links[by_uid].irradiation_event_uid, links[by_uid].method) == (chest_uid, LINK_BY_UID)
    # Protocol agreement beats the nearer event in time.
    assert (links[by_time_protocol].irradiation_event_uid, links[by_time_protocol].method) == (
        abdo_uid,
        LINK_BY_TIME_AND_PROTOCOL,
    )
    assert (links[by_time].irradiation_event_uid, links[by_time].method) == (chest_uid, LINK_BY_TIME)
    assert far not in links  # outside the window: not guessed


def test_links_by_protocol_when_events_have_no_time(tmp_path: Path) -> None:
    study, uid = generate_uid(), generate_uid()
    report = read_dataset(
        rdsr_dataset(
            [ct_event(uid, protocol="TAP"), ct_event(generate_uid(), protocol="Topo")], study_uid=study
        )
    )
    series = generate_uid()
    links = link_events(
        report.events, summarise_series(headers(tmp_path, [ct_image(study, series, z=0.0, protocol="TAP")]))
    )
    assert [(link.irradiation_event_uid, link.method) for link in links] == [(uid, LINK_BY_PROTOCOL)]
