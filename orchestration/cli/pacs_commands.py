"""``dicom-lake pacs echo`` and ``dicom-lake pacs find``: the PACS administrator's first connection test.

``find`` prints counts and UIDs only. Study and series descriptions can identify patients, so they
are printed only with ``--show-descriptions`` (and a warning on stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from orchestration.cli.site import load_config
from resources.dicom_network.association import NetworkOptions, echo, peer_from_settings
from resources.pacs.query import PacsQuerier
from resources.pacs.study_index import partition_date_to_dicom


def register(subparsers: Any) -> None:
    pacs = subparsers.add_parser("pacs", help="test the connection to the PACS (C-ECHO, C-FIND)")
    commands = pacs.add_subparsers(dest="pacs_command", required=True, metavar="PACS_COMMAND")

    echo_parser = commands.add_parser("echo", help="C-ECHO the PACS named in the site file")
    _source_option(echo_parser)
    echo_parser.set_defaults(handler=run_echo)

    find = commands.add_parser("find", help="C-FIND one study date: counts and UIDs")
    find.add_argument("--date", required=True, type=dt.date.fromisoformat, help="study date YYYY-MM-DD")
    find.add_argument("--level", choices=("study", "series"), default="study")
    find.add_argument(
        "--show-descriptions",
        action="store_true",
        help="also print study/series descriptions (may identify patients: use on a secure terminal)",
    )
    _source_option(find)
    find.set_defaults(handler=run_find)


def _source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", default=None, help="the source to talk to, when the site file lists several (sources:)"
    )


def run_echo(args: argparse.Namespace) -> int:
    pacs = load_config(args.config).source_named(args.source, context="--source").pacs
    peer = peer_from_settings(pacs)
    # A PacsError is a DicomLakeError: the CLI prints its one-line reason.
    seconds = echo(peer, NetworkOptions.from_settings(pacs))
    print(f"C-ECHO {peer.describe()}: success in {seconds * 1000:.0f} ms")
    return 0


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def run_find(args: argparse.Namespace) -> int:
    pacs = load_config(args.config).source_named(args.source, context="--source").pacs
    peer = peer_from_settings(pacs)
    if args.show_descriptions:
        print(
            "WARNING: descriptions may contain patient-identifying text; do not paste this output "
            "into tickets or chat.",
            file=sys.stderr,
        )
    rows: list[list[str]] = []
    with PacsQuerier(peer, NetworkOptions.from_settings(pacs)) as querier:
        studies = querier.find_studies(study_date=partition_date_to_dicom(args.date.isoformat()))
        if args.level == "study":
            header = ["STUDY_UID", "MODALITIES", "SERIES", "INSTANCES"]
            if args.show_descriptions:
                header.append("DESCRIPTION")
            rows.append(header)
            for study in studies:
                row = [
                    study.study_uid,
                    "\\".join(study.modalities) or "-",
                    "-" if study.n_series is None else str(study.n_series),
                    "-" if study.n_instances is None else str(study.n_instances),
                ]
                if args.show_descriptions:
                    row.append(study.study_description or "")
                rows.append(row)
            total_series = None
        else:
            header = ["STUDY_UID", "SERIES_UID", "MODALITY", "INSTANCES"]
            if args.show_descriptions:
                header.append("DESCRIPTION")
            rows.append(header)
            total_series = 0
            for study in studies:
                series_rows = querier.find_series(study.study_uid)
                total_series += len(series_rows)
                for series in series_rows:
                    row = [
                        study.study_uid,
                        series.series_uid,
                        series.modality or "-",
                        "-" if series.n_instances is None else str(series.n_instances),
                    ]
                    if args.show_descriptions:
                        row.append(series.series_description or "")
                    rows.append(row)
    if len(rows) > 1:
        print(_table(rows))
    summary = f"{len(studies)} studies on {args.date.isoformat()} at {peer.describe()}"
    if total_series is not None:
        summary += f", {total_series} series"
    print(summary)
    return 0
