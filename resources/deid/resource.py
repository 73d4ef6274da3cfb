"""The Dagster face of the de-identification engine."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from resources.deid.engine import Deidentifier, load_opt_out
from resources.deid.errors import DeidSettingsError
from resources.deid.options import DeidOptions
from resources.deid.vault import Vault
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource


def build_deidentifier(
    config: SiteConfig,
    secret_key: bytes,
    *,
    vault_key: bytes | None = None,
    recipient_key: bytes | None = None,
) -> Deidentifier:
    """A :class:`Deidentifier` for a site configuration and keys (the CLI and the resource share it).

    Raises
    ------
    DeidSettingsError
        If the vault or double pseudonymisation is switched on without its key, or the secret key
        is too short.
    """
    settings = config.deidentification
    if settings.vault_enabled and not vault_key:
        raise DeidSettingsError(
            "deidentification.vault_enabled is on but no vault key is set (DICOM_LAKE_VAULT_KEY)"
        )
    if settings.double_pseudonymisation and not recipient_key:
        raise DeidSettingsError(
            "deidentification.double_pseudonymisation is on but no recipient key is set"
            " (DICOM_LAKE_RECIPIENT_KEY)"
        )
    opt_out_file = config.resolve_path(settings.opt_out_file) if settings.opt_out_file else None
    vault = Vault(config.paths.vault, vault_key) if settings.vault_enabled and vault_key else None
    return Deidentifier(
        DeidOptions.from_settings(settings),
        secret_key,
        recipient_key=recipient_key if settings.double_pseudonymisation else None,
        vault=vault,
        opt_out_ids=load_opt_out(opt_out_file),
        spacy_model=settings.spacy_model,
    )


class DeidentificationResource(dg.ConfigurableResource):
    """Holds the keys; builds one :class:`Deidentifier` per process (the PHI scanner is costly)."""

    site: SiteConfigResource
    secret_key: str
    vault_key: str | None = None
    recipient_key: str | None = None

    _engine: Deidentifier | None = PrivateAttr(default=None)

    def engine(self) -> Deidentifier:
        if self._engine is None:
            self._engine = build_deidentifier(
                self.site.load(),
                self.secret_key.encode("utf-8"),
                vault_key=self.vault_key.encode("utf-8") if self.vault_key else None,
                recipient_key=self.recipient_key.encode("utf-8") if self.recipient_key else None,
            )
        return self._engine

    def research_root(self) -> Path:
        return self.site.load().paths.research
