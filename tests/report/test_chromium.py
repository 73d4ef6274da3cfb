"""The report opened as a reader would: in headless Chromium, with every host name unresolvable.

A copy of report.html (the test's own; the report itself carries no script) gets a small inline script
that, once the page has loaded, records for every section its title, size and tables, for every <img>
whether it decoded and its natural size, and every resource the page fetched; Chromium's --dump-dom
hands that back. A screenshot is taken too and its pixels checked.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from resources.report.analysis_sections import ANALYSIS_SECTIONS
from tests.report.conftest import WrittenReport, run_chromium

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

SECTION_KEYS = ["drl_audit", "effective_dose", "ssde", *(key for key, _, _ in ANALYSIS_SECTIONS)]

PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var section = img.closest("section");
    return {section: section ? section.id : "", complete: img.complete,
            width: img.naturalWidth, height: img.naturalHeight};
  });
  var sections = Array.prototype.map.call(document.querySelectorAll("section.report-section"), function (s) {
    return {id: s.id, title: s.querySelector("h2").textContent, height: s.getBoundingClientRect().height,
            tables: s.querySelectorAll("table").length};
  });
  var fetched = performance.getEntriesByType("resource").map(function (e) { return e.name; });
  var out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify({images: images, sections: sections, fetched: fetched});
  document.body.appendChild(out);
});
</script>"""


def _rendered(chromium: str, page: Path, profile: Path) -> dict[str, Any]:
    result = run_chromium(chromium, profile, "--virtual-time-budget=15000", "--dump-dom", page.as_uri())
    match = re.search(r'<pre id="render-check">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no render result (exit {result.returncode}): {result.stderr[-1500:]}"
    data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return data


def test_every_section_and_every_plot_renders(
    chromium: str, written_report: WrittenReport, tmp_path: Path
) -> None:
    page = written_report.html.read_text(encoding="utf-8")
    assert "<script" not in page
    probe_copy = tmp_path / "report-probe.html"
    probe_copy.write_text(page.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    rendered = _rendered(chromium, probe_copy, tmp_path / "profile")

    sections = {s["id"]: s for s in rendered["sections"]}
    assert list(sections) == SECTION_KEYS
    images = rendered["images"]
    assert len(images) == page.count("<img ")
    for key in SECTION_KEYS:
        assert sections[key]["title"].strip(), key
        assert sections[key]["height"] > 200, key  # laid out, not collapsed
        assert sections[key]["tables"] >= 1, key
        assert [i for i in images if i["section"] == key], f"section {key} shows no plot"
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    # Nothing fetched: data: URIs are not resources, and any host name would not have resolved.
    assert rendered["fetched"] == []


def test_the_probe_sees_a_broken_plot_and_a_network_request(
    chromium: str, written_report: WrittenReport, tmp_path: Path
) -> None:
    # The check above can fail: a truncated data: URI and an image from a host are both reported.
    page = written_report.html.read_text(encoding="utf-8")
    first = page.index('src="data:image/png;base64,') + len('src="data:image/png;base64,')
    broken = page[:first] + "AAAA" + page[first + 400 :]
    broken = broken.replace("</main>", '<img src="https://example.invalid/plot.png" alt="remote"></main>')
    probe_copy = tmp_path / "broken-probe.html"
    probe_copy.write_text(broken.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    rendered = _rendered(chromium, probe_copy, tmp_path / "profile")
    failed = [i for i in rendered["images"] if not (i["complete"] and i["width"] > 0)]
    assert len(failed) == 2
    assert rendered["fetched"] == ["https://example.invalid/plot.png"]


def test_a_screenshot_shows_the_report(chromium: str, written_report: WrittenReport, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = run_chromium(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1200,1800",
        f"--screenshot={shot}",
        written_report.html.as_uri(),
    )
    assert shot.is_file(), result.stderr[-1500:]
    with Image.open(shot) as image:
        assert image.size == (1200, 1800)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, tables and plots; a blank or error page has a handful
    count = sum(n for n, _ in colours)
    background = max(n for n, _ in colours)
    assert background / count < 0.97
    # The DRL marks (red) and the boxes (light blue) of the first plot are on screen.
    assert any(r > 150 and g < 90 and b < 90 for _, (r, g, b) in colours)
