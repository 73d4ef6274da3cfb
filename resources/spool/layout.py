"""Where the spool puts a file: ``<root>/<partition key>/<study UID>/<SOP Instance UID>.dcm``.

The partition key is the study date as ``YYYY-MM-DD`` (``YYYY-MM-DD@<source>`` as a folder with
several sources, :mod:`resources.partition_keys`); UIDs become folder and file names only when
they are plain UIDs, so a broken sender cannot make a path escape the spool folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from resources.partition_keys import folder_name

_PLAIN_UID = re.compile(r"[0-9.]{1,64}")


def partition_key_from_dicom_date(value: str | None) -> str | None:
    """``YYYYMMDD`` (DICOM DA) to the partition key ``YYYY-MM-DD``; None when absent or invalid."""
    if not value:
        return None
    text = str(value).strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:  # dt.date validates the calendar; cheaper than strptime on the receive path
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def safe_path_component(uid: str) -> str:
    """The UID itself when it is digits and dots, else a digest of it (a name that cannot escape)."""
    if _PLAIN_UID.fullmatch(uid) and uid.strip("."):
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


def instance_path(root: str, partition_key: str, study_uid: str, sop_instance_uid: str) -> Path:
    """The spool file of one instance under the spool folder ``root`` (given as text)."""
    # One string, one Path: this runs for every received instance, and pathlib's "/" parses anew.
    study, sop = safe_path_component(study_uid), safe_path_component(sop_instance_uid)
    return Path(f"{root}/{folder_name(partition_key)}/{study}/{sop}.dcm")
