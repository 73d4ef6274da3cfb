"""De-identified projection dose SRs give the same dose results, and links by Irradiation Event UID hold.

The project's de-identification engine (PS3.15 with Clean Structured Content, keyed UID remapping,
per-patient date shift) is applied to every projection dose SR of the openrem wheel and to a real DX
image given one of the Carestream report's event UIDs: the reader finds the same doses, and the image
still links to its event because the SR's UID (DCM 113769) and the image's (0008,3010) are remapped alike.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest

from resources.dose.projection_events import analyse_projection_files
from resources.dose.rdsr.projection_radiation_dose import (
    ProjectionXRayRadiationDose,
    read_projection_radiation_dose,
)
from tests.dicom_builder import write_file
from tests.dose.test_projection_openrem import projection_files

pytestmark = [pytest.mark.openrem, pytest.mark.slow]

SECRET = b"projection-dose-test-secret-0123"
CARESTREAM = "DX-RDSR-Carestream_DRXEvolution.dcm"


def dose_view(report: ProjectionXRayRadiationDose) -> list[tuple[object, ...]]:
    return [
        (
            e.dose_area_product_gym2,
            e.dose_rp_gy,
            e.kvp,
            e.average_glandular_dose_mgy,
            e.event_type,
            e.laterality,
        )
        for e in report.events
    ]


def test_same_doses_and_links_after_deidentification(openrem_test_files: Path, tmp_path: Path) -> None:
    deid_engine = pytest.importorskip("resources.deid.engine")
    options = pytest.importorskip("resources.deid.options")
    engine = deid_engine.Deidentifier(options.DeidOptions(), SECRET)
    carestream = read_projection_radiation_dose(openrem_test_files / CARESTREAM)
    image = pydicom.dcmread(openrem_test_files / "DX-Im-Carestream_DRX.dcm")
    image.StudyInstanceUID = carestream.study_instance_uid
    image.PatientID = pydicom.dcmread(openrem_test_files / CARESTREAM).PatientID
    image.IrradiationEventUID = carestream.events[2].irradiation_event_uid
    image_path = tmp_path / "image.dcm"
    image.save_as(image_path)
    compared, out = 0, tmp_path / "out"
    out.mkdir()
    written = []
    for path in [*projection_files(openrem_test_files), image_path]:
        outcome = engine.deidentify_file(path)
        if outcome.outcome != "deidentified":
            warnings.warn(f"{path.name} quarantined by de-identification: {outcome.reason}", stacklevel=1)
            continue
        written.append(write_file(outcome.dataset, out / path.name))
        if path == image_path:
            continue
        before, after = read_projection_radiation_dose(path), read_projection_radiation_dose(written[-1])
        assert dose_view(after) == dose_view(before), path.name
        assert after.study_instance_uid != before.study_instance_uid
        assert after.patient_id != before.patient_id
        compared += 1
    assert compared >= 18
    analysis = analyse_projection_files(sorted(written))
    (link,) = analysis.links
    assert link.irradiation_event_uid != carestream.events[2].irradiation_event_uid  # remapped, still linked
    assert sum(1 for e in analysis.events if e.n_linked_instances) == 1
