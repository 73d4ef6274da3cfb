"""Reading the curation engine's versioned data files (CSV with a ``#`` comment header)."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from resources.errors import ConfigurationError

DATA_FOLDER = Path(__file__).resolve().parent

_VERSION_LINE = re.compile(r"^#\s*\S+\s+version\s+(\S+)", re.IGNORECASE)


class MappingFileError(ConfigurationError):
    """A normalisation data file is missing, malformed or has an invalid pattern."""


def read_data_file(path: Path) -> tuple[str, list[dict[str, str]]]:
    """The file's version label (``<declared>+<content digest>``) and its rows.

    Raises
    ------
    MappingFileError
        If the file cannot be read or has no header row.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingFileError(f"{path}: cannot read mapping file: {exc.strerror}") from exc
    declared = "0"
    data_lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            match = _VERSION_LINE.match(line)
            if match and declared == "0":
                declared = match.group(1)
            continue
        if line.strip():
            data_lines.append(line)
    if not data_lines:
        raise MappingFileError(f"{path}: no header row")
    rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(data_lines)]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{declared}+{digest}", rows


def compile_pattern(pattern: str, *, where: str) -> re.Pattern[str]:
    """Compile a case-insensitive pattern from a data file.

    Raises
    ------
    MappingFileError
        If the pattern is not a valid regular expression.
    """
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise MappingFileError(f"{where}: invalid pattern {pattern!r}: {exc}") from exc


def squeeze(text: str) -> str:
    """Upper case, letters and digits only: ``"CT_01 "`` -> ``"CT01"``."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def tidy(text: str) -> str:
    """Upper case with punctuation as single spaces: ``"ct-1 "`` -> ``"CT 1"``."""
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9/+]", " ", text.upper())).strip()
