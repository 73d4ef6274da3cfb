"""``dicom-lake deidentify`` (a folder of files, offline) and ``dicom-lake reidentify`` (vault key)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestration.cli.errors import EXIT_OK, EXIT_PARTIAL, CommandError
from orchestration.cli.site import load_config, writable_folder
from resources.deid.folder_run import default_quarantine_dir, deidentify_folder
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
        description="De-identify a folder of DICOM files offline and print the summary as JSON. The "
        "output folder holds only de-identified data; identifiable copies of quarantined files go to "
        "OUTPUT_DIR.quarantine-identifiable/ beside it (or --quarantine), and each quarantined file and "
        "each pair of inputs sharing a SOP Instance UID is named on stderr with its reason. Exit status "
        "1 if the leak check found identifiers in a research copy, 2 if the source folder, output or "
        "quarantine folder, site file or secret cannot be used.",
    )
    parser.add_argument("source_dir", type=Path, help="folder of source DICOM files (searched recursively)")
    parser.add_argument(
        "output_dir", type=Path, help="de-identified copies (research/), _phi_findings.jsonl and summary.json"
    )
    parser.add_argument(
        "--quarantine",
        dest="quarantine_dir",
        type=Path,
        default=None,
        help="folder for the identifiable copies of quarantined files, with their reasons (default: "
        "OUTPUT_DIR.quarantine-identifiable beside the output; never inside it)",
    )
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
        If the source folder does not exist or the output or quarantine folder cannot be written.
    resources.site_config.SiteConfigError
        If the site file or the secret cannot be used.
    resources.deid.errors.DeidSettingsError
        If a de-identification setting cannot work, or the quarantine folder is inside the output.
    """
    config = load_config(args.deid_config or args.config)
    if not args.source_dir.is_dir():
        raise CommandError(f"{args.source_dir}: no such folder")
    writable_folder(args.output_dir, "de-identified output")
    quarantine_dir = args.quarantine_dir or default_quarantine_dir(args.output_dir)
    # Created only when a file is quarantined; its parent is proved writable now, before any work.
    writable_folder(quarantine_dir.resolve().parent, "quarantine of identifiable copies")
    secret = secret_from_env(SECRET_KEY_ENV_VAR)
    assert secret is not None
    # A setting that cannot work raises DeidSettingsError, which the command line reports in one line.
    engine = build_deidentifier(
        config,
        secret,
        vault_key=secret_from_env(VAULT_KEY_ENV_VAR, required=False),
        recipient_key=secret_from_env(RECIPIENT_KEY_ENV_VAR, required=False),
    )
    summary = deidentify_folder(
        engine, args.source_dir, args.output_dir, quarantine_dir=quarantine_dir, report=_to_stderr
    )
    print(json.dumps(summary, indent=2))
    quarantine = summary["quarantine"]
    if quarantine["files"]:
        _to_stderr(f"{quarantine['files']} identifiable file(s) quarantined in {quarantine['folder']}")
    passed = bool(summary.get("leak_check", {}).get("passed", True))
    return EXIT_OK if passed else EXIT_PARTIAL


def _to_stderr(line: str) -> None:
    print(f"dicom-lake: {line}", file=sys.stderr)


def _reidentify(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    key = secret_from_env(VAULT_KEY_ENV_VAR)
    assert key is not None
    # A pseudonym not in the vault or a wrong key raises VaultError, reported by the command line.
    identity = Vault(config.paths.vault, key).lookup(args.pseudonym.strip())
    print(json.dumps(identity, indent=2))
    return 0
