"""The ``dicom-lake`` command line. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from orchestration.cli.errors import EXIT_CODES_HELP, EXIT_USAGE
from resources.errors import DicomLakeError

log = logging.getLogger(__name__)

# Modules that define ``register(subparsers)``; each adds its commands.
COMMAND_MODULES = (
    "orchestration.cli.pacs_commands",
    "orchestration.cli.deid_commands",
    "orchestration.cli.dose_commands",
    "orchestration.cli.export_commands",
    "orchestration.cli.operations_commands",
    "orchestration.cli.demo_commands",
    "orchestration.cli.corpus_commands",
    "orchestration.cli.conformance_commands",
    "orchestration.cli.worker_commands",
    "orchestration.cli.report_command",
    "orchestration.cli.partitions_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-lake",
        description="De-identified DICOM metadata lake and radiation-dose audit.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    """Run one command; returns its exit code (0 ok, 1 partial or failed check, 2 usage or configuration).

    A :class:`~resources.errors.DicomLakeError` or an :class:`OSError` that reaches this level is
    printed as one line, ``dicom-lake: error: <file, setting or peer>: <reason>``, and gives 2.

    Raises
    ------
    SystemExit
        From argparse, with code 2, on a usage error (and 0 for ``--help``).
    """
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
        log.debug("command failed", exc_info=exc)
        # Some reasons quote a parser's multi-line message (YAML errors): keep the one-line promise.
        return _error_line(str(exc))
    except OSError as exc:
        # A file or folder the command was pointed at (or its site file names) cannot be used: a
        # permission, a full disk, a path through a regular file. Name it instead of a traceback.
        log.debug("command failed", exc_info=exc)
        return _error_line(describe_os_error(exc))
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def describe_os_error(exc: OSError) -> str:
    """``<file>: <reason>`` for an OS error (both files of a failed rename or copy)."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    files = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(files)}: {reason}" if files else reason


def _error_line(message: str) -> int:
    print(f"dicom-lake: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
