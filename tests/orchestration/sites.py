"""Constants of the orchestration tests: where the instance templates are, and the PostgreSQL peer.

The site file, in-process listener and storescu helpers are shared with the listener tests
(:mod:`tests.listener_site`, :mod:`tests.dcmtk_tools`)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "orchestration" / "instance"
PG_HOST = os.environ.get("DICOM_LAKE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DICOM_LAKE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("DICOM_LAKE_TEST_PG_USER", "postgres")
