"""Code versions that follow the data: a factor set, a mapping file or the de-identification profile.

Dagster marks a partition stale when an asset's ``code_version`` differs from the one it was
materialised with. Assets whose output depends on data files (k-factor sets, DRL sets, name mappings,
the PS3.15 action table) or on settings (the de-identification options) fold those into their code
version with these helpers, so editing a file shows the affected partitions as stale in the UI and a
backfill of the stale partitions reruns exactly those::

    code_version=versioned("deid-2", data_version_of(ACTIONS_CSV), settings_version(profile))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_DIGEST_LENGTH = 12


def data_version_of(*paths: str | Path, extra: Iterable[str] = ()) -> str:
    """A short digest of the content of files (or of every file under a folder), in a stable order.

    File names take part (relative to each argument), so renaming a table changes the version too.

    Raises
    ------
    FileNotFoundError
        If a path does not exist: a missing table must not silently keep an old version.
    """
    digest = hashlib.sha256()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: data file for a code version does not exist")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            name = file.relative_to(path).as_posix() if path.is_dir() else file.name
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:_DIGEST_LENGTH]


def settings_version(settings: Mapping[str, Any] | Any) -> str:
    """A short digest of settings (a mapping or a pydantic model), independent of key order."""
    if hasattr(settings, "model_dump"):
        settings = settings.model_dump(mode="json")
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_LENGTH]


def versioned(base: str, *parts: str) -> str:
    """Join a hand-bumped code version with data/settings digests: ``deid-2+3fa1c0d2e9b4+...``."""
    return "+".join((base, *parts))


def site_section_version(section: str) -> str:
    """A digest of one section of the site file the Definitions were loaded with.

    Settings that change an asset's output (the de-identification options, the factor set, the DRL
    set) live in the site file, not in code: folding them into the code version makes a change of
    option mark the affected partitions stale. A site file that cannot be read gives a fixed marker;
    the runs themselves then fail with the configuration error.
    """
    from resources.site_config import SiteConfigError, load_site_config

    try:
        config = load_site_config()
    except SiteConfigError:
        return "unconfigured"
    return settings_version(getattr(config, section))
