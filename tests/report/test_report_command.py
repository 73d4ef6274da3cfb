"""``dicom-lake report`` on a warehouse the demo built: both files written, self-contained, nothing
identifying in them, and a clear one-line refusal for an empty period or a missing warehouse."""

from __future__ import annotations

import contextlib
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orchestration.cli import main
from orchestration.cli.errors import EXIT_OK, EXIT_USAGE
from resources.report.analysis_sections import ANALYSIS_SECTIONS
from tests.report.conftest import DemoSite, WrittenReport

pytestmark = pytest.mark.slow

SECTION_TITLES = [
    "DRL audit",
    "Effective dose and cumulative dose",
    *(title for _, title, _ in ANALYSIS_SECTIONS),
]


class _Links(HTMLParser):
    """Every URL-bearing attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in {"src", "href", "srcset", "action", "poster", "data"} and value is not None:
                self.urls.append((tag, name, value))


def _text_of(page: str) -> str:
    """The page's visible text (tags dropped, entities decoded), for searching identifiers."""
    without_images = re.sub(r'src="data:[^"]*"', "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", without_images))


def _pdf_text(path: Path) -> str:
    pypdf = pytest.importorskip("pypdf", reason="pypdf (dev dependency) reads the PDF's text")
    reader = pypdf.PdfReader(str(path))
    assert len(reader.pages) > 0
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_command_writes_both_files(written_report: WrittenReport) -> None:
    assert written_report.exit_code == EXIT_OK, written_report.stderr
    assert written_report.html.is_file() and written_report.pdf.is_file()
    assert f"html: {written_report.html}" in written_report.stdout
    assert f"pdf: {written_report.pdf}" in written_report.stdout
    assert not list(written_report.out.glob("*.part"))  # written through temporary files, renamed


def test_the_html_is_one_self_contained_file(written_report: WrittenReport) -> None:
    page = written_report.html.read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    assert "script" not in links.tags and "link" not in links.tags and "iframe" not in links.tags
    images = [value for tag, name, value in links.urls if tag == "img" and name == "src"]
    assert len(images) >= len(SECTION_TITLES)
    for tag, name, value in links.urls:
        # Plots are data: URIs; the only links are to the page's own sections.
        assert value.startswith(("data:image/png;base64,", "#")), (tag, name, value[:80])
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.replace("http-equiv", ""))
    assert "@import" not in page and "url(" not in page


def test_the_header_names_site_period_versions_and_sets(
    written_report: WrittenReport, demo_site: DemoSite
) -> None:
    text = _text_of(written_report.html.read_text(encoding="utf-8"))
    assert "dicom-lake demo" in text  # the demo's site name
    assert f"{demo_site.start} to {demo_site.end}" in text
    assert "uk_2022" in text and "aapm96_icrp60" in text
    assert "ps315-" in text  # the de-identification profile version recorded in the warehouse
    assert re.search(r"dicom-lake \d+\.\d+", text)
    assert re.search(r"Generated \(UTC\)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)


def test_every_section_is_in_the_html_and_the_pdf(written_report: WrittenReport) -> None:
    page = written_report.html.read_text(encoding="utf-8")
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page, title
    pdf_text = _pdf_text(written_report.pdf)
    flat = " ".join(pdf_text.split())
    for title in SECTION_TITLES:
        assert title in flat, title
    assert "dicom-lake demo" in flat


def test_nothing_identifying_reaches_the_report(written_report: WrittenReport, demo_site: DemoSite) -> None:
    manifest = demo_site.manifest
    html_text = _text_of(written_report.html.read_text(encoding="utf-8"))
    pdf_text = " ".join(_pdf_text(written_report.pdf).split())
    identifiers = {
        value
        for planted in manifest["planted_phi"]
        for value in planted.get("identifiers") or [planted.get("identifier")]
        if isinstance(value, str) and len(value) >= 5
    }
    identifiers |= {study["study_uid"] for study in manifest["studies"]}  # source UIDs: only pseudonyms pass
    identifiers |= {study["accession"] for study in manifest["studies"]}
    for patient in manifest["patients"]:
        identifiers |= {patient["patient_id"], patient["name"], patient["name"].split("^")[0]}
    canonical = {str(s["protocol"]["canonical_exam"]).lower() for s in manifest["studies"]}
    free_text = {
        raw
        for study in manifest["studies"]
        for raw in (study["protocol"]["study_description_raw"], study["protocol"]["protocol_name_raw"])
        if raw and len(raw) >= 6 and raw.lower() not in canonical
    }
    assert identifiers and free_text
    for value in sorted(identifiers | free_text):
        # Word-bounded, as the leak check searches: a five-digit ID occurs by chance inside the 39 random
        # digits of a pseudonymised UID without being that ID.
        present = re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")
        assert not present.search(html_text), f"{value!r} found in the HTML"
        assert not present.search(pdf_text), f"{value!r} found in the PDF"


def test_an_empty_period_is_refused_in_one_line(demo_site: DemoSite, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    code, _, err = _run(
        "--config",
        str(demo_site.config),
        "report",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--out",
        str(out),
    )
    assert code == EXIT_USAGE
    errors = [line for line in err.splitlines() if line.startswith("dicom-lake: error:")]
    assert len(errors) == 1
    assert "no curated study" in errors[0] and "2025-01-01" in errors[0]
    assert f"{demo_site.start}" in errors[0]  # says which period the warehouse does hold
    assert not out.exists()


def test_a_reversed_period_is_refused(demo_site: DemoSite, tmp_path: Path) -> None:
    code, _, err = _run(
        "--config",
        str(demo_site.config),
        "report",
        "--from",
        "2026-11-11",
        "--to",
        "2026-11-09",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == EXIT_USAGE
    assert "ends before it starts" in err


def test_a_missing_warehouse_is_named_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)
    site = tmp_path / "dicom-lake.yaml"
    site.write_text("site_name: nowhere\nfolders:\n  root: lake\n", encoding="utf-8")
    code, _, err = _run(
        "--config",
        str(site),
        "report",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-11",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == EXIT_USAGE
    line = next(line for line in err.splitlines() if line.startswith("dicom-lake: error:"))
    assert str(tmp_path / "lake" / "warehouse.sqlite") in line and "does not exist" in line
    assert not (tmp_path / "lake" / "warehouse.sqlite").exists()
    assert not (tmp_path / "out").exists()


def test_a_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["report", "--from", "2026-13-01", "--to", "2026-12-01", "--out", "x"])
    assert stopped.value.code == EXIT_USAGE
    assert "is not a date" in capsys.readouterr().err
