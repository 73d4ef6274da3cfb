"""The ``dicom-lake`` command line. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from resources.errors import DicomLakeError

# Modules that define ``register(subparsers)``; each adds its commands.
COMMAND_MODULES = (
    "orchestration.cli.pacs_commands",
    "orchestration.cli.deid_commands",
    "orchestration.cli.dose_commands",
    "orchestration.cli.export_commands",
    "orchestration.cli.operations_commands",
    "orchestration.cli.demo_commands",
    "orchestration.cli.corpus_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-lake",
        description="De-identified DICOM metadata lake and radiation-dose audit.",
    )
    parser.add_argument(
        "--config", help="site configuration file (default: $DICOM_LAKE_CONFIG or ./dicom-lake.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pynetdicom logs whole identifiers (C-FIND keys and answers) at INFO and DEBUG: keep it to
    # warnings so no patient identifier reaches a log line, even with --verbose.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    try:
        result = args.handler(args)
    except DicomLakeError as exc:
        # One line naming the file, UID or setting and the reason; the cause stays in --verbose logs.
        logging.getLogger(__name__).debug("command failed", exc_info=exc)
        # Some reasons quote a parser's multi-line message (YAML errors): keep the one-line promise.
        print(f"dicom-lake: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
