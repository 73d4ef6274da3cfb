"""The retrieval assets and the ``dicom-lake pacs`` commands on a generated corpus in the demo PACS."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml
from pydicom import dcmread

from assets.retrieval import pacs_study_index, retrieved_instances
from orchestration.cli import main
from resources.corpus import CorpusSpec, generate_corpus
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.resource import PacsResource
from resources.site_resource import SiteConfigResource
from resources.spool import SpoolStore
from tests.dicom_builder import XRAY_DOSE_SR
from tests.peers import free_port

DAY = dt.date(2026, 11, 9)
PARTITION = DAY.isoformat()
LAKE_AE = "DICOM_LAKE"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(
        out,
        CorpusSpec(seed=11, n_studies=6, start_date=DAY, days=1, ct_images_per_series=3, rdsr_fraction=0.5),
    )
    return out


@dataclass
class Site:
    config_path: Path
    root: Path
    pacs: DemoPacs


@pytest.fixture()
def site(corpus: Path, tmp_path: Path) -> Iterator[Site]:
    lake_port = free_port()
    pacs = DemoPacs(corpus, "DEMO_PACS", known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
    port = pacs.start()
    config = {
        "folders": {"root": str(tmp_path / "site")},
        "pacs": {
            "host": "127.0.0.1",
            "port": port,
            "called_ae_title": "DEMO_PACS",
            "calling_ae_title": LAKE_AE,
            "storage_scp_port": lake_port,
            "storage_scp_bind": "127.0.0.1",
            "dimse_timeout_s": 15,
        },
        "retrieval": {"policy": "metadata", "retry_backoff_s": 0},
        "selection": {"modalities": ["CT", "MG", "SR"]},
    }
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        yield Site(config_path=path, root=tmp_path / "site", pacs=pacs)
    finally:
        pacs.stop()


def metadata_truth(corpus: Path) -> set[str]:
    """From the files themselves: dose SRs and MG series whole, first image of each other series, last CT
    image without a dose SR."""
    series: dict[tuple[str, str], list[tuple[int, str, str, str]]] = defaultdict(list)
    for path in corpus.rglob("*.dcm"):
        ds = dcmread(path, stop_before_pixels=True)
        if ds.StudyDate != DAY.strftime("%Y%m%d"):
            continue
        key = (ds.StudyInstanceUID, ds.SeriesInstanceUID)
        series[key].append(
            (int(ds.get("InstanceNumber") or 0), ds.SOPInstanceUID, ds.Modality, ds.SOPClassUID)
        )
    studies_with_dose = {
        study for (study, _), rows in series.items() if any(r[3] == XRAY_DOSE_SR for r in rows)
    }
    wanted: set[str] = set()
    for (study, _), rows in series.items():
        rows.sort()
        if rows[0][2] in ("SR", "MG"):  # every mammogram carries its own exposure
            wanted.update(r[1] for r in rows)
            continue
        wanted.add(rows[0][1])
        if rows[0][2] == "CT" and study not in studies_with_dose:
            wanted.add(rows[-1][1])
    return wanted


def test_assets_index_and_retrieve_the_metadata_policy_with_count_only_metadata(
    site: Site, corpus: Path
) -> None:
    resources = {"pacs": PacsResource(site=SiteConfigResource(config_path=str(site.config_path)))}
    result = dg.materialize(
        [pacs_study_index, retrieved_instances], resources=resources, partition_key=PARTITION
    )
    assert result.success
    index_md = result.asset_materializations_for_node("pacs_study_index")[0].metadata
    retrieval_md = result.asset_materializations_for_node("retrieved_instances")[0].metadata
    truth = metadata_truth(corpus)
    spool = SpoolStore(site.root / "spool")
    assert {r.sop_instance_uid for r in spool.instances(PARTITION)} == truth
    assert index_md["studies_found"].value == index_md["studies_selected"].value > 0
    assert retrieval_md["instances_retrieved"].value == len(truth)
    assert retrieval_md["policy"].value == "metadata"
    assert retrieval_md["method"].value == "move"
    for value in [*index_md.values(), *retrieval_md.values()]:  # counts and fixed words only, never text
        assert isinstance(value.value, int | float | str)
        assert not isinstance(value.value, str) or value.value in {"metadata", "move"}
    again = dg.materialize([retrieved_instances], resources=resources, partition_key=PARTITION)
    md = again.asset_materializations_for_node("retrieved_instances")[0].metadata
    assert md["instances_retrieved"].value == 0
    assert md["instances_already_present"].value == len(truth)


def test_pacs_echo_and_find_print_uids_and_counts_but_no_descriptions(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(site.config_path), "pacs", "echo"]) == 0
    assert "C-ECHO DEMO_PACS@127.0.0.1" in capsys.readouterr().out
    code = main(["--config", str(site.config_path), "pacs", "find", "--date", PARTITION])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    descriptions = {
        str(ds.StudyDescription)
        for ds in (dcmread(p, stop_before_pixels=True) for p in site.pacs.folder.rglob("*.dcm"))
        if ds.get("StudyDescription")
    }
    assert "STUDY_UID" in captured.out and "studies on 2026-11-09" in captured.out
    assert not any(d in captured.out for d in descriptions)
    args = ["--config", str(site.config_path), "pacs", "find", "--date", PARTITION, "--level", "series"]
    code = main([*args, "--show-descriptions"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "WARNING" in captured.err
    assert "SERIES_UID" in captured.out


def test_pacs_echo_names_the_pacs_when_nothing_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(yaml.safe_dump({"pacs": {"port": free_port(), "called_ae_title": "NOBODY"}}))
    assert main(["--config", str(path), "pacs", "echo"]) == 2
    assert "NOBODY@127.0.0.1" in capsys.readouterr().err
