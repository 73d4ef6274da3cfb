"""``dicom-lake conformance``: write the DICOM Conformance Statement, generated from the code's own tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="write the DICOM Conformance Statement (PS3.2 style) generated from the code's tables",
        description="Generate the DICOM Conformance Statement of our SCU (C-ECHO, C-FIND, C-MOVE, C-GET) "
        "and SCP (C-STORE listener) from the tables the code uses: SOP classes, transfer syntaxes, "
        "query keys, statuses, association policies. Without --out it goes to stdout.",
    )
    parser.add_argument(
        "--out", type=Path, help="write to this file (docs/conformance-statement.md in the repository)"
    )
    parser.set_defaults(handler=run_conformance)


def run_conformance(args: argparse.Namespace) -> int:
    """Write the statement to ``--out`` (atomically) or stdout.

    Raises
    ------
    OSError
        If ``--out`` cannot be written (the command line names the file).
    """
    from orchestration.conformance import conformance_statement

    text = conformance_statement()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    target: Path = args.out
    partial = target.with_name(f".{target.name}.part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    print(f"conformance statement: {target}", file=sys.stderr)
    return 0
