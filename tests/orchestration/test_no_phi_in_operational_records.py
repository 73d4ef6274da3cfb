"""After a demo run, no identifier of any source instance is in an operational record.

Searched: the Dagster instance (its SQLite storages table by table, every file under DAGSTER_HOME,
compute logs included, and ``instance.all_logs`` of every run), the run's stdout and stderr (file
descriptors 1 and 2), every log record, every text column of every warehouse table, and every text
value of every de-identified file (plus any other file) in the research store. The identifiers are read
from the corpus's source files: person names whole and their components of 4+ letters (on word
boundaries), patient IDs, accession numbers, birth dates in five spellings, and the source Study,
Series and SOP Instance UIDs. The spool and the quarantine hold identifiable data by design and are not
searched. The last tests plant a leak in a copy of a store and show that the search finds it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
import shutil
import sqlite3
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from orchestration.demo import DemoLayout, run_demo

pytestmark = pytest.mark.slow

IDENTIFYING_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "IssuerOfPatientID")
SOURCE_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
MIN_COMPONENT = 4  # shorter name parts ("LI", "DR") match ordinary words and abbreviations


def _elements(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or ():
                yield from _elements(item)
        else:
            yield element


def _values(element: pydicom.DataElement) -> list[str]:
    value = element.value
    if value is None or isinstance(value, bytes | bytearray):
        return []
    items = value if isinstance(value, pydicom.multival.MultiValue | list | tuple) else [value]
    return [str(v) for v in items if str(v).strip()]


def _birth_date_spellings(value: str) -> set[str]:
    try:
        day = dt.datetime.strptime(value.strip(), "%Y%m%d").date()
    except ValueError:
        return {value.strip()}
    return {day.strftime(f) for f in ("%Y%m%d", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y")}


def source_identifiers(source_folder: Path) -> set[str]:
    """Every identifier of every source instance (person names of any role included)."""
    found: set[str] = set()
    for path in source_folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in SOURCE_UID_KEYWORDS:
            if keyword in ds:
                found.add(str(ds[keyword].value))
        for element in _elements(ds):
            if element.VR == "PN":
                for name in _values(element):
                    found.add(name)
                    found.add(" ".join(part for part in re.split(r"[\^=]", name) if part))
                    found.update(p for p in re.split(r"[\^= ,.\-]", name) if len(p) >= MIN_COMPONENT)
            elif element.keyword in IDENTIFYING_KEYWORDS:
                found.update(_values(element))
            elif element.keyword == "PatientBirthDate":
                for value in _values(element):
                    found.update(_birth_date_spellings(value))
    return {text.strip() for text in found if len(text.strip()) >= MIN_COMPONENT}


@dataclass
class Search:
    """One case-insensitive pass for all identifiers, each bounded by non-alphanumerics."""

    identifiers: set[str]
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        terms = sorted(self.identifiers, key=len, reverse=True)
        alternatives = "|".join(re.escape(term) for term in terms)
        self.pattern = re.compile(f"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)

    def hits(self, texts: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """(where, identifier) for every match in ``texts`` of (where, text)."""
        return [(where, m.group(0)) for where, text in texts for m in self.pattern.finditer(text)]

    def in_context(self, texts: Iterable[tuple[str, str]], width: int = 90) -> list[str]:
        """Each match with the text around it, for a failure message (the corpus is synthetic)."""
        return [
            f"{where}: ...{text[max(0, m.start() - width) : m.end() + width]}..."
            for where, text in texts
            for m in self.pattern.finditer(text)
        ]


# -- the stores, as (where, text) ----------------------------------------------------------------------
def sqlite_texts(database: Path) -> Iterator[tuple[str, str]]:
    """Every text value of every column of every table of a SQLite file."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as con:
        con.text_factory = lambda raw: raw.decode("utf-8", "replace")
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str):
                        yield f"{database.name}:{table}", value
                    elif isinstance(value, bytes):
                        yield f"{database.name}:{table}", value.decode("utf-8", "replace")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A payload inside serialized JSON has its "/" escaped as "\/": the backslashes belong to the payload.
_DATA_URI_PNG = re.compile(rb"data:image/png;base64,([A-Za-z0-9+/=\\]+)")


def png_texts(png: bytes) -> bytes:
    """The text a PNG can carry: its tEXt, zTXt and iTXt chunks (the rest is compressed pixels)."""
    texts, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            texts.append(data.replace(b"\0", b" "))
        elif kind == b"zTXt":
            keyword, _, rest = data.partition(b"\0")
            texts.append(keyword + b" " + zlib.decompress(rest[1:]))
        elif kind == b"iTXt":
            keyword, _, rest = data.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            texts.append(keyword + b" " + (zlib.decompress(text) if compressed else text))
        pos += 12 + length
    return b"\n".join(texts)


def _embedded_png_texts(payload: bytes) -> bytes:
    """The text chunks of a base64 PNG (nothing for a payload cut short)."""
    payload = payload.replace(b"\\", b"")
    try:
        return png_texts(base64.b64decode(payload + b"=" * (-len(payload) % 4)))
    except (binascii.Error, struct.error, zlib.error, ValueError):
        return b""


def _readable(path: Path, raw: bytes) -> str:
    """A file's text as a reader would see it.

    Compressed and encoded payloads are random letters, so a name would turn up in them by chance
    (a four-letter name in a report's base64 plots did): images count by the text their PNG chunks
    carry, a PDF by the text of its pages and its metadata.
    """
    if raw.startswith(_PNG_SIGNATURE):
        raw = png_texts(raw)
    elif raw.startswith(b"%PDF"):
        from pypdf import PdfReader

        reader = PdfReader(path)
        pages = "\n".join(page.extract_text() or "" for page in reader.pages)
        return f"{pages}\n{reader.metadata or ''}"
    else:
        raw = _without_payloads(raw)
    return raw.decode("utf-8", "replace")


def _without_payloads(raw: bytes) -> bytes:
    """Each embedded PNG (``data:image/png;base64,...``) replaced by the text its chunks carry."""
    return _DATA_URI_PNG.sub(lambda m: b"data:image/png;text," + _embedded_png_texts(m.group(1)), raw)


def visible(text: str) -> str:
    """A stored text with its embedded images read as a reader sees them (see ``_readable``)."""
    if "data:image/png;base64," not in text:
        return text
    return _without_payloads(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


def file_texts(folder: Path) -> Iterator[tuple[str, str]]:
    """Every file under ``folder`` as text (binary files decoded leniently); SQLite files table by table."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        yield str(path.relative_to(folder)), _readable(path, raw)
        if raw.startswith(b"SQLite format 3\0"):
            # Long values continue on overflow pages, so the raw bytes may split them: read the tables.
            yield from sqlite_texts(path)


def research_texts(research: Path) -> Iterator[tuple[str, str]]:
    """Every text value of every de-identified file (sequences and private tags included)."""
    for path in sorted(research.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for element in [*_elements(ds.file_meta), *_elements(ds)]:
            for value in _values(element):
                yield f"{path.name}:{element.keyword or element.tag}", value


def dagster_event_texts(dagster_home: Path) -> Iterator[tuple[str, str]]:
    """Every event of every run as the instance returns it (message and serialized event)."""
    import dagster as dg
    from dagster._serdes import serialize_value

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        runs = instance.get_runs()
        assert runs, f"no run recorded in {dagster_home}"
        for run in runs:
            yield f"run {run.run_id}", serialize_value(run)
            for entry in instance.all_logs(run.run_id):
                yield f"event of run {run.run_id}", f"{entry.user_message}\n{serialize_value(entry)}"
    finally:
        instance.dispose()


@dataclass
class DemoRecords:
    layout: DemoLayout
    identifiers: set[str]
    stdout_stderr: str
    log_lines: list[str]

    @property
    def warehouse(self) -> Path:
        return self.layout.root / "warehouse.sqlite"

    @property
    def research(self) -> Path:
        return self.layout.root / "research"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRecords]:
    tmp = tmp_path_factory.mktemp("phi-demo")
    layout = DemoLayout(root=tmp / "demo", dagster_home=tmp / "dagster-home")
    handler = _Lines()
    root = logging.getLogger()
    old_level = root.level
    # As `dicom-lake` runs (orchestration.cli.main): pynetdicom, which logs whole identifiers at INFO
    # and DEBUG, is kept to warnings; every logger of ours logs at DEBUG here, more than --verbose.
    pynetdicom_logger = logging.getLogger("pynetdicom")
    old_pynetdicom_level = pynetdicom_logger.level
    with pytest.MonkeyPatch.context() as env, tempfile.TemporaryFile() as captured:
        for name in (
            "DAGSTER_HOME",
            "DICOM_LAKE_CONFIG",
            "DICOM_LAKE_SECRET_KEY",
            "DICOM_LAKE_WAREHOUSE_URL",
        ):
            env.delenv(name, raising=False)
        # What the run writes to its stdout and stderr, at the file descriptors (subprocesses too).
        saved = [os.dup(1), os.dup(2)]
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        pynetdicom_logger.setLevel(logging.WARNING)
        try:
            os.dup2(captured.fileno(), 1)
            os.dup2(captured.fileno(), 2)
            summary = run_demo(seed=23, studies=8, start=dt.date(2026, 11, 9), days=2, layout=layout)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            root.removeHandler(handler)
            root.setLevel(old_level)
            pynetdicom_logger.setLevel(old_pynetdicom_level)
        captured.seek(0)
        output = captured.read().decode("utf-8", "replace")
        assert summary.failed_runs == [], output[-2000:]
        assert summary.research_files > 0
        identifiers = source_identifiers(layout.pacs_data)
        yield DemoRecords(layout, identifiers, output, handler.lines)


STORES = {
    "dagster instance files and storages": lambda r: file_texts(r.layout.dagster_home),
    "dagster event logs": lambda r: dagster_event_texts(r.layout.dagster_home),
    "run stdout and stderr": lambda r: [("stdout/stderr", r.stdout_stderr)],
    "log records": lambda r: (("log", line) for line in r.log_lines),
    "warehouse text columns": lambda r: sqlite_texts(r.warehouse),
    "research store DICOM values": lambda r: research_texts(r.research),
    "research store files": lambda r: file_texts(r.research),
}


def test_the_identifiers_cover_every_kind(demo_records: DemoRecords) -> None:
    ids = demo_records.identifiers
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", i) for i in ids)  # birth dates, respelled
    assert any(re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", i) for i in ids)
    assert sum(1 for i in ids if re.fullmatch(r"[0-9.]{20,}", i)) > 8  # source UIDs
    assert any("^" in i for i in ids) and any(i.isalpha() and i.isupper() for i in ids)  # names, parts


@pytest.mark.parametrize("store", list(STORES))
def test_no_source_identifier_in(store: str, demo_records: DemoRecords) -> None:
    # Embedded plots are read as a reader sees them: their base64 letters would match a name by chance.
    texts = [(where, visible(text)) for where, text in STORES[store](demo_records)]
    assert texts, f"nothing read from the {store}: the search would prove nothing"
    search = Search(demo_records.identifiers)
    # Where, which identifier and its context: the corpus is synthetic, so showing them is safe.
    assert search.hits(texts) == [], "\n".join(search.in_context(texts)[:10])


# -- the search catches a planted leak --------------------------------------------------------------------
def _a_patient_name(demo_records: DemoRecords) -> str:
    path = next(demo_records.layout.pacs_data.rglob("*.dcm"))
    return str(pydicom.dcmread(path, stop_before_pixels=True).PatientName)


def test_a_name_planted_in_a_warehouse_copy_is_found(demo_records: DemoRecords, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.sqlite"
    shutil.copyfile(demo_records.warehouse, copy)
    family = next(p for p in _a_patient_name(demo_records).split("^") if len(p) >= MIN_COMPONENT)
    with sqlite3.connect(copy) as con:
        column = next(
            c[1] for c in con.execute("PRAGMA table_info(study)") if c[2].upper().startswith("VARCHAR")
        )
        con.execute(f'UPDATE study SET "{column}" = ?', (f"seen by {family.title()} today",))
    search = Search(demo_records.identifiers)
    assert search.hits(sqlite_texts(demo_records.warehouse)) == []
    assert ("warehouse.sqlite:study", family.title()) in search.hits(sqlite_texts(copy))


def test_a_source_uid_planted_in_a_research_copy_is_found(demo_records: DemoRecords, tmp_path: Path) -> None:
    source = pydicom.dcmread(next(demo_records.layout.pacs_data.rglob("*.dcm")), stop_before_pixels=True)
    research_file = next(demo_records.research.rglob("*.dcm"))
    planted = pydicom.dcmread(research_file)
    planted.ReferencedSOPInstanceUID = source.SOPInstanceUID  # buried where a reference would be
    (tmp_path / "research").mkdir()
    planted.save_as(tmp_path / "research" / research_file.name)
    hits = Search(demo_records.identifiers).hits(research_texts(tmp_path / "research"))
    assert [uid for _, uid in hits] == [str(source.SOPInstanceUID)]


def test_a_birth_date_planted_in_a_log_line_is_found(demo_records: DemoRecords) -> None:
    source = pydicom.dcmread(next(demo_records.layout.pacs_data.rglob("*.dcm")), stop_before_pixels=True)
    born = dt.datetime.strptime(source.PatientBirthDate, "%Y%m%d").strftime("%d/%m/%Y")
    lines = [*demo_records.log_lines[:50], f"INFO resources.x: patient born {born}, checking"]
    assert Search(demo_records.identifiers).hits(("log", line) for line in lines) == [("log", born)]


def test_files_are_read_as_a_reader_sees_them(tmp_path: Path) -> None:
    """A name in a plot's text, in an HTML page or in a PDF's text is found; letters of a payload are not."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    name = "Okafor"
    figure, axes = plt.subplots()
    axes.set_title("dose per study")
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Description": f"for {name}"})
    clean = io.BytesIO()
    figure.savefig(clean, format="png")
    with PdfPages(tmp_path / "report.pdf") as pdf:
        axes.set_title(f"seen by {name}")
        pdf.savefig(figure)
    plt.close(figure)
    payload = base64.b64encode(clean.getvalue()).decode()
    (tmp_path / "chance.html").write_text(f'<img src="data:image/png;base64,{payload}+{name}/">x</img>')
    (tmp_path / "plot.png").write_bytes(png.getvalue())
    embedded = base64.b64encode(png.getvalue()).decode()
    (tmp_path / "page.html").write_text(f'<img src="data:image/png;base64,{embedded}">')
    search = Search({name})
    found = {where for where, _ in search.hits(file_texts(tmp_path))}
    assert found == {"plot.png", "page.html", "report.pdf"}
    escaped = payload.replace("/", "\\/")  # as serialized JSON stores it
    stored = f'{{"md": "![plot](data:image/png;base64,{escaped}+{name}\\/x)"}}'
    assert search.hits([("event", stored)]) != []  # the letters match by chance...
    assert search.hits([("event", visible(stored))]) == []  # ...not the plot as a reader sees it
