"""The Dagster face of the site configuration, shared by every engine resource."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import dagster as dg

from resources.site_config import CONFIG_ENV_VAR, SiteConfig, load_site_config


@cache
def _load_cached(path: str | None, mtime: float) -> SiteConfig:
    return load_site_config(path)


class SiteConfigResource(dg.ConfigurableResource):
    """Points at the site file; None: ``$DICOM_LAKE_CONFIG`` (read when used), else ``./dicom-lake.yaml``."""

    config_path: str | None = None

    def load(self) -> SiteConfig:
        # Resolve the path now, not at definition time, so a process that changes the environment
        # (the demo, tests) never reads a stale file; the cache key includes the file's mtime.
        path = self.config_path or os.environ.get(CONFIG_ENV_VAR) or None
        mtime = Path(path).stat().st_mtime if path and Path(path).exists() else 0.0
        return _load_cached(path, mtime)
