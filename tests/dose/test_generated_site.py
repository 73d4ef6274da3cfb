"""End to end on a generated site (resources.corpus, known answers in its manifest): events, estimation for
studies without a dose SR, DRL medians. Real multi-slice CT series with CTDIvol and Irradiation Event UID
are not publicly available: the corpus generates them consistently with its generated dose SRs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest

from resources.corpus import CorpusManifest
from resources.dose.drl import AuditStudy, DrlMapping, audit, load_drl_set
from resources.dose.exam_context import ExamContext, default_exam_context
from resources.dose.partition_events import PartitionAnalysis, analyse_files
from resources.dose.study_rows import study_dose_rows
from resources.dose.table_rows import table_rows
from resources.warehouse import dose_tables

UK = load_drl_set("uk_2022")


@dataclass
class RowsAsWritten:
    """A partition's rows as the column mappings the dose engine writes to the warehouse."""

    events: list[dict[str, object]]
    links: list[dict[str, object]]
    contexts: list[dict[str, object]]
    unreadable: list[tuple[str, str]]


def as_written(analysis: PartitionAnalysis) -> RowsAsWritten:
    return RowsAsWritten(
        table_rows(dose_tables.CtDoseEvent, analysis.events),
        table_rows(dose_tables.CtEventSeriesLink, analysis.links),
        table_rows(dose_tables.DoseStudyContext, analysis.contexts),
        analysis.unreadable,
    )


@pytest.fixture(scope="module")
def analysed(
    generated_site: tuple[Path, CorpusManifest],
) -> tuple[RowsAsWritten, list[dict[str, object]], CorpusManifest]:
    folder, manifest = generated_site
    analysis = analyse_files(sorted(folder.rglob("*.dcm")), default_exam_context(), DrlMapping.load())
    studies = study_dose_rows(analysis.events, analysis.contexts)
    return as_written(analysis), table_rows(dose_tables.StudyDose, studies), manifest


def ct_truth(manifest: CorpusManifest) -> dict[str, dict]:
    return {s["study_uid"]: s for s in manifest.studies if s["modality"] == "CT"}


def test_every_ct_study_found_once_with_its_true_dlp(analysed: tuple) -> None:
    analysis, studies, manifest = analysed
    truth = ct_truth(manifest)
    assert {s["study_instance_uid"] for s in studies} == set(truth)
    assert analysis.unreadable == []
    for study in studies:
        expected = truth[study["study_instance_uid"]]
        assert study["origin"] == ("rdsr" if expected["has_rdsr"] else "estimated")
        assert study["n_events"] == expected["totals"]["n_events"]
        assert study["dlp_total_mgycm"] == pytest.approx(expected["totals"]["dlp_total_mgycm"], abs=0.02)


def test_cumulative_rdsrs_in_the_corpus_are_deduplicated(analysed: tuple) -> None:
    analysis, studies, manifest = analysed
    cumulative = [s for s in manifest.studies if s.get("cumulative_rdsrs")]
    contexts = {c["study_instance_uid"]: c for c in analysis.contexts}
    for study in cumulative:
        context = contexts[study["study_uid"]]
        assert context["n_reports"] == study["rdsr_count"]
        assert context["n_duplicate_events"] > 0
    assert all(s["totals_match"] is not False for s in studies)


def test_estimated_events_per_series(analysed: tuple) -> None:
    analysis, _studies, manifest = analysed
    truth = ct_truth(manifest)
    estimated = [e for e in analysis.events if e["origin"] == "estimated"]
    assert estimated, "the generated site must have studies without a dose SR"
    for event in estimated:
        true_events = {
            e["irradiation_event_uid"]: e for e in truth[event["study_instance_uid"]]["dose_events"]
        }
        true_event = true_events[event["irradiation_event_uid"]]
        assert "estimated" in event["flags"]
        if true_event["dlp_mgycm"] is None:
            assert event["dlp_mgycm"] is None
        else:
            assert event["ctdivol_mgy"] == pytest.approx(true_event["ctdivol_mgy"], abs=0.01)
            assert event["dlp_mgycm"] == pytest.approx(true_event["dlp_mgycm"], rel=0.01)


def test_rdsr_events_are_linked_to_their_series_by_uid(analysed: tuple) -> None:
    analysis, _studies, manifest = analysed
    truth = ct_truth(manifest)
    links = [link for link in analysis.links if link["method"] == "irradiation_event_uid"]
    assert links
    for link in links:
        series = {s["series_uid"]: s for s in truth[link["study_instance_uid"]]["series"]}
        assert series[link["series_instance_uid"]]["irradiation_event_uid"] == link["irradiation_event_uid"]


def test_drl_medians_match_the_known_answers(analysed: tuple) -> None:
    _analysis, studies, manifest = analysed
    truth = ct_truth(manifest)
    adults = [s for s in studies if truth[s["study_instance_uid"]]["adult"]]
    result = audit(
        [
            AuditStudy(
                s["study_instance_uid"],
                "site",
                "2026-11-10",
                s["drl_category"],
                s["exam_name"],
                s["ctdivol_diagnostic_mean_mgy"],
                s["dlp_total_mgycm"],
            )
            for s in adults
        ],
        UK,
        period="year",
    )
    expected = manifest.summaries["drl"]["by_category"]
    by_examination = {g.examination: g for g in result.groups}
    assert set(by_examination) == set(expected)
    for examination, answer in expected.items():
        group = by_examination[examination]
        assert group.n_studies == answer["n_studies"]
        assert group.median_dlp_mgycm == pytest.approx(answer["median_dlp_mgycm"], abs=0.01)
        # The manifest's CTDIvol median is per sequence; ours per study (mean of its diagnostic
        # sequences): equal when each study has one diagnostic sequence, as the generated protocols do.
        assert group.median_ctdivol_mgy == pytest.approx(answer["median_ctdivol_mgy"], abs=0.01)
        dlps = [s["dlp_total_mgycm"] for s in adults if s["drl_category"] == group.category]
        assert group.median_dlp_mgycm == pytest.approx(statistics.median(dlps))
        level = UK.levels[group.category].dlp_mgycm
        assert set(group.exceeding_study_uids) >= {
            s["study_instance_uid"]
            for s in adults
            if s["drl_category"] == group.category and level is not None and s["dlp_total_mgycm"] > level
        }


def test_exam_context_stub_is_used_when_given(generated_site: tuple[Path, CorpusManifest]) -> None:
    folder, _manifest = generated_site
    files = sorted(folder.rglob("*.dcm"))[:40]
    calls: list[str] = []

    def namer(text: str) -> str | None:
        calls.append(text)
        return None

    analysis = as_written(
        analyse_files(files, ExamContext(infer_region=lambda _t: None, exam_name=namer), DrlMapping({}))
    )
    assert calls
    assert all(c["drl_category"] is None and c["unmapped_name"] for c in analysis.contexts)
