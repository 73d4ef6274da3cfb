"""``dicom-lake deidentify`` (a folder of files, offline) and ``dicom-lake reidentify`` (vault key)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestration.cli.errors import EXIT_OK, EXIT_PARTIAL, CommandError
from orchestration.cli.site import load_config, writable_folder
from resources.deid.folder_run import deidentify_folder
from resources.deid.resource import build_deidentifier
from resources.deid.vault import Vault
from resources.site_config import (
    RECIPIENT_KEY_ENV_VAR,
    SECRET_KEY_ENV_VAR,
    VAULT_KEY_ENV_VAR,
    secret_from_env,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deidentify",
        help="de-identify a folder of DICOM files offline (same engine and options as the pipeline)",
        description="De-identify a folder of DICOM files offline and print the summary as JSON. Exit "
        "status 1 if the leak check found identifiers in the research copies, 2 if the source folder, "
        "output folder, site file or secret cannot be used.",
    )
    parser.add_argument("source_dir", type=Path, help="folder of source DICOM files (searched recursively)")
    parser.add_argument("output_dir", type=Path, help="research copies, quarantine/ and summary.json go here")
    parser.add_argument(
        "--config", dest="deid_config", help="site configuration file (overrides the global one)"
    )
    parser.set_defaults(handler=_deidentify)

    reid = subparsers.add_parser(
        "reidentify", help="look a pseudonym up in the vault (needs DICOM_LAKE_VAULT_KEY)"
    )
    reid.add_argument("pseudonym")
    reid.set_defaults(handler=_reidentify)


def _deidentify(args: argparse.Namespace) -> int:
    """De-identify the folder; 1 if the leak check failed.

    Raises
    ------
    CommandError
        If the source folder does not exist or the output folder cannot be written.
    resources.site_config.SiteConfigError
        If the site file or the secret cannot be used.
    """
    config = load_config(args.deid_config or args.config)
    if not args.source_dir.is_dir():
        raise CommandError(f"{args.source_dir}: no such folder")
    writable_folder(args.output_dir, "de-identified output")
    secret = secret_from_env(SECRET_KEY_ENV_VAR)
    assert secret is not None
    # A setting that cannot work raises DeidSettingsError, which the command line reports in one line.
    engine = build_deidentifier(
        config,
        secret,
        vault_key=secret_from_env(VAULT_KEY_ENV_VAR, required=False),
        recipient_key=secret_from_env(RECIPIENT_KEY_ENV_VAR, required=False),
    )
    summary = deidentify_folder(engine, args.source_dir, args.output_dir)
    print(json.dumps(summary, indent=2))
    passed = bool(summary.get("leak_check", {}).get("passed", True))
    return EXIT_OK if passed else EXIT_PARTIAL


def _reidentify(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    key = secret_from_env(VAULT_KEY_ENV_VAR)
    assert key is not None
    # A pseudonym not in the vault or a wrong key raises VaultError, reported by the command line.
    identity = Vault(config.paths.vault, key).lookup(args.pseudonym.strip())
    print(json.dumps(identity, indent=2))
    return 0
