"""A generated corpus laid out as the research store of a site, curated and dose-processed by the real
assets (SQLite warehouse): what the whole-warehouse report tests read."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml

from assets.curation import curated_instances
from assets.dose import ct_dose_events, effective_dose, study_dose
from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus
from resources.curation.resource import CurationResource
from resources.dose.resource import DoseResource
from resources.site_resource import SiteConfigResource
from resources.warehouse.resource import WarehouseResource

# The embedded demo's corpus (orchestration/demo.py run_demo defaults), without pixels or planted PHI.
DEMO_SPEC = CorpusSpec(
    seed=2026, n_studies=60, start_date=dt.date(2026, 11, 9), days=7, header_only=True, plant_phi=False
)


@dataclass
class LakeSite:
    config: Path
    manifest: CorpusManifest
    partitions: list[str]

    @property
    def warehouse_url(self) -> str:
        return f"sqlite:///{self.config.parent / 'var' / 'warehouse.sqlite'}"

    def resources(self) -> dict[str, object]:
        site = SiteConfigResource(config_path=str(self.config))
        warehouse = WarehouseResource(site=site)
        return {
            "site": site,
            "warehouse": warehouse,
            "curation": CurationResource(site=site, warehouse=warehouse),
            "dose": DoseResource(site=site),
        }


def lay_out(
    root: Path, corpus: Path, manifest: CorpusManifest, site: dict[str, object] | None = None
) -> LakeSite:
    """Copy each study of the corpus into the research partition of its (source) study date."""
    config = root / "dicom-lake.yaml"
    config.write_text(yaml.safe_dump({"folders": {"root": "var"}, **(site or {})}))
    research = root / "var" / "research"
    partitions: set[str] = set()
    for study in manifest.studies:
        key = str(study["study_date"])[:10]
        partitions.add(key)
        for path in (corpus / study["folder"]).rglob("*.dcm"):
            target = research / key / study["study_uid"] / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for key in partitions:
        (research / key / "_deid_summary.json").write_text('{"profile_version": "test"}')
    return LakeSite(config, manifest, sorted(partitions))


def generated_lake(root: Path, spec: CorpusSpec = DEMO_SPEC) -> LakeSite:
    corpus = root / "corpus"
    manifest = generate_corpus(corpus, spec)
    return lay_out(root, corpus, manifest)


def process(
    site: LakeSite,
    partitions: Sequence[str] | None = None,
    instance: dg.DagsterInstance | None = None,
    with_curation: bool = True,
) -> None:
    """Curate (optionally) and run the dose chain for each partition, as the retrospective job would."""
    chain = [curated_instances] if with_curation else []
    chain += [ct_dose_events, study_dose, effective_dose]
    for key in partitions or site.partitions:
        result = dg.materialize(chain, resources=site.resources(), partition_key=key, instance=instance)
        assert result.success, key
