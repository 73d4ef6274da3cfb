"""The command line's own error and its exit codes.

Every command ends with one of three codes, documented in ``dicom-lake --help``:

- ``EXIT_OK`` (0): done, every check passed;
- ``EXIT_PARTIAL`` (1): done in part, or a check failed (a file ``rdsr`` cannot read, the listener
  ``health`` reports down, a ``demo`` run failed, the ``deidentify`` leak check found identifiers);
- ``EXIT_USAGE`` (2): nothing done, because of a usage or configuration problem: a bad argument, site
  file, setting or secret, or a file, folder, port or peer named by them that cannot be used
  (argparse's own usage errors also give 2).
"""

from __future__ import annotations

from resources.errors import DicomLakeError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = """exit codes:
  0  done, every check passed
  1  done in part, or a check failed (a file rdsr cannot read, listener down, a demo run failed,
     identifiers found by the deidentify leak check)
  2  usage or configuration: a bad argument, site file, setting or secret, or a file, folder, port
     or peer named by them that cannot be used; one line on stderr names it and the reason

The site file read (--config, else $DICOM_LAKE_CONFIG, else ./dicom-lake.yaml), or that none was
found and the defaults apply, is reported in one line on stderr."""


class CommandError(DicomLakeError):
    """A command failed for a reason the user can act on; printed without a traceback (exit code 2)."""
