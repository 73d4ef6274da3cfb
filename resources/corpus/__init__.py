"""Synthetic DICOM corpus: realistic CT, dose SR and mammography studies with known answers.

Usage::

    from resources.corpus import CorpusSpec, generate_corpus, iter_corpus
    manifest = generate_corpus(out_dir, CorpusSpec(seed=7, n_studies=40))
    for item in iter_corpus(spec): item.dataset, item.relative_path, item.study

Layout: ``<out_dir>/<YYYYMMDD>_<index>_<CT|MG>/<series number>_<kind>/<instance number>.dcm`` and
``<out_dir>/manifest.json``. Everything is derived from the seed: the same spec gives byte-identical
files. (The manifest schema is documented below.)
"""

from resources.corpus.generator import (
    MANIFEST_NAME,
    CorpusItem,
    CorpusManifest,
    generate_corpus,
    iter_corpus,
    study_manifest,
)
from resources.corpus.spec import CorpusSpec

__all__ = [
    "MANIFEST_NAME",
    "CorpusItem",
    "CorpusManifest",
    "CorpusSpec",
    "generate_corpus",
    "iter_corpus",
    "study_manifest",
]
