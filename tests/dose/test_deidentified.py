"""De-identified versions of the real vendor dose SRs give identical dose results.

The project's own de-identification engine (resources.deid, PS3.15 profile with Clean Structured
Content, keyed UID remapping, per-patient date shift) is applied to every CT dose SR of the openrem wheel;
the reader must find the same events, doses, lengths, types and totals, and de-duplication must still
work because Irradiation Event UIDs (DCM 113769) are remapped consistently.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from resources.dose.dedup import deduplicate_study
from resources.dose.errors import NotADoseReportError
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose, read_ct_radiation_dose
from tests.dicom_builder import write_file

pytestmark = [pytest.mark.openrem, pytest.mark.slow]

SECRET = b"dose-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def deidentified(openrem_test_files: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    deid_engine = pytest.importorskip("resources.deid.engine")
    options = pytest.importorskip("resources.deid.options")
    engine = deid_engine.Deidentifier(options.DeidOptions(), SECRET)
    out = tmp_path_factory.mktemp("deidentified")
    result: dict[str, Path] = {}
    for path in sorted(openrem_test_files.glob("*.dcm")):
        try:
            read_ct_radiation_dose(path)
        except NotADoseReportError:
            continue
        outcome = engine.deidentify_file(path)
        if outcome.outcome != "deidentified":
            # Quarantine is the de-identification stage's decision (nothing reaches the research zone);
            # the dose engine never sees such a file. Named in the test output for that stage's owner.
            warnings.warn(f"{path.name} quarantined by de-identification: {outcome.reason}", stacklevel=1)
            continue
        target = out / path.name
        result[path.name] = write_file(outcome.dataset, target)
    return result


def dose_view(report: CTRadiationDose) -> list[tuple[object, ...]]:
    return [
        (
            e.acquisition_type,
            e.ctdivol_mgy,
            e.dlp_mgycm,
            e.scanning_length_mm,
            e.phantom,
            e.target_region,
            e.pitch_factor,
            e.exposure_time_s,
            tuple((s.kvp, s.tube_current_ma) for s in e.sources),
            e.has_dose_container,
            len(e.dose_checks),
            tuple(sorted(e.invalid_values.values())),
        )
        for e in report.events
    ]


def test_identical_dose_results_after_deidentification(
    openrem_test_files: Path, deidentified: dict[str, Path]
) -> None:
    assert len(deidentified) >= 10
    for name, research_copy in deidentified.items():
        original = read_ct_radiation_dose(openrem_test_files / name)
        research = read_ct_radiation_dose(research_copy)
        assert research.document_type == original.document_type, name
        assert dose_view(research) == dose_view(original), name
        assert research.accumulated == original.accumulated, name
        assert research.patient_age == original.patient_age, name
        # UIDs are pseudonymised: different, but still present for every event that had one.
        assert research.sop_instance_uid != original.sop_instance_uid, name
        assert [e.irradiation_event_uid is None for e in research.events] == [
            e.irradiation_event_uid is None for e in original.events
        ], name


def test_cumulative_series_still_deduplicates_after_deidentification(deidentified: dict[str, Path]) -> None:
    reports = [read_ct_radiation_dose(deidentified[f"CT-RDSR-Siemens-Multi-{n}.dcm"]) for n in (1, 2, 3)]
    assert len({r.study_instance_uid for r in reports}) == 1
    study = deduplicate_study(reports[0].study_instance_uid, reports)
    assert len(study.events) == 3
    assert study.dlp_total_recomputed == pytest.approx(236.09, abs=0.005)
