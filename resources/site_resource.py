"""The Dagster face of the site configuration, shared by every engine resource."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg

from resources.site_config import SiteConfig, load_site_config


@cache
def _load_cached(path: str | None, mtime: float) -> SiteConfig:
    return load_site_config(path)


class SiteConfigResource(dg.ConfigurableResource):
    """Points at the site file; None means ``$DICOM_LAKE_CONFIG`` or ``./dicom-lake.yaml``."""

    config_path: str | None = None

    def load(self) -> SiteConfig:
        path = self.config_path
        mtime = Path(path).stat().st_mtime if path and Path(path).exists() else 0.0
        return _load_cached(path, mtime)
