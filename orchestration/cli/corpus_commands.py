"""``dicom-lake corpus generate``: write the synthetic DICOM corpus and its ground-truth manifest."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

from orchestration.cli.errors import CommandError


def register(subparsers: Any) -> None:
    corpus = subparsers.add_parser("corpus", help="synthetic DICOM corpus for tests, benchmarks and the demo")
    commands = corpus.add_subparsers(dest="corpus_command", required=True, metavar="SUBCOMMAND")
    generate = commands.add_parser(
        "generate", help="write a deterministic synthetic corpus (CT, dose SR, mammography) and manifest.json"
    )
    generate.add_argument("out_dir", metavar="OUT_DIR", help="target folder (created if missing)")
    generate.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    generate.add_argument("--studies", type=int, default=40, help="number of studies (default 40)")
    generate.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 11, 9),
        help="first study date, YYYY-MM-DD (default 2026-11-09)",
    )
    generate.add_argument("--days", type=int, default=7, help="days the study dates spread over (default 7)")
    generate.add_argument(
        "--images-per-series", type=int, default=12, help="CT images per series (default 12)"
    )
    generate.add_argument("--header-only", action="store_true", help="leave out pixel data (faster, smaller)")
    generate.add_argument("--no-phi", action="store_true", help="do not plant identifiers in extra places")
    generate.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Write the corpus into a new or empty folder.

    Raises
    ------
    CommandError
        If the target is a file or a folder with something in it, or a spec value is out of range.
    """
    from resources.corpus import CorpusSpec, generate_corpus

    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CommandError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise CommandError(f"{out_dir}: not empty: choose a new or empty folder")
    try:
        spec = CorpusSpec(
            seed=args.seed,
            n_studies=args.studies,
            start_date=args.start_date,
            days=args.days,
            ct_images_per_series=args.images_per_series,
            header_only=args.header_only,
            plant_phi=not args.no_phi,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    began = time.perf_counter()
    manifest = generate_corpus(out_dir, spec)
    seconds = time.perf_counter() - began
    rate = manifest.n_files / seconds if seconds > 0 else float("inf")
    print(
        f"{len(manifest.studies)} studies, {manifest.n_files} files in {seconds:.1f} s ({rate:.0f} files/s);"
        f" ground truth in {out_dir / 'manifest.json'}"
    )
    return 0
