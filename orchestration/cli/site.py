"""What every command that reads the site file shares: which file was read, and folders it writes to.

The site file in use is reported in one line on stderr, so that a command that silently ran on the
defaults (a typo in ``$DICOM_LAKE_CONFIG``'s folder, a command started from another folder) shows it;
stdout stays machine-readable (JSON for ``health --json``, ``deidentify``, ``reidentify``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from orchestration.cli.errors import CommandError
from resources.site_config import CONFIG_ENV_VAR, SiteConfig, load_site_config

DEFAULT_SITE_FILE = "dicom-lake.yaml"


def site_file_in_use(path: str | Path | None) -> Path | None:
    """The file :func:`load_site_config` reads for ``path`` (same order), or None if it uses defaults."""
    candidate = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_SITE_FILE)
    return candidate.resolve() if candidate.exists() else None


def load_config(path: str | Path | None) -> SiteConfig:
    """Load the site file and say on stderr which one was read, or that none was.

    Raises
    ------
    resources.site_config.SiteConfigError
        If the file is missing (when named), not YAML or invalid; the message names the file.
    """
    config = load_site_config(path)
    used = site_file_in_use(path)
    if used is None:
        note = f"no site file (./{DEFAULT_SITE_FILE} or ${CONFIG_ENV_VAR}); using defaults"
    else:
        note = f"site file: {used}"
    print(f"dicom-lake: {note}", file=sys.stderr)
    return config


def writable_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it, before any work starts.

    Checked by writing (not by permission bits) because the bits do not tell the whole story: root
    ignores them, and a read-only mount or a full disk refuses whatever they say.

    Raises
    ------
    CommandError
        If the folder cannot be created or written; the message names it, ``what`` it is for, and why.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".dicom-lake-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise CommandError(f"{folder}: cannot write the {what} there: {reason}") from exc
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return folder
