"""The completeness check measures CTDIvol where it matters: on axial/helical CT images, not localisers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.curation import curated_field_completeness, curated_instances
from resources.curation.resource import CurationResource
from resources.site_resource import SiteConfigResource
from resources.warehouse.completeness import DIAGNOSTIC_CTDIVOL, device_completeness, field_completeness
from resources.warehouse.lineage import Lineage
from resources.warehouse.resource import WarehouseResource
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import CtAcquisition, Device, Instance, Series
from tests.curation.conftest import make_dataset
from tests.dicom_builder import write_instance
from tests.warehouse.backends import BACKENDS, make_warehouse

__all__ = ["make_warehouse"]  # the fixture, used through the parameter of the same name

PARTITION = "2026-11-10"


def _site(tmp_path: Path, images: list[tuple[str, bool]]) -> Path:
    """A research partition of one CT study: (image type value 3, has CTDIvol) per image."""
    config = tmp_path / "dicom-lake.yaml"
    config.write_text(yaml.safe_dump({"folders": {"root": "var"}}))
    folder = tmp_path / "var" / "research" / PARTITION
    for number, (kind, with_ctdivol) in enumerate(images, start=1):
        overrides: dict[str, object] = {
            "StudyInstanceUID": "2.25.10",
            "SeriesInstanceUID": f"2.25.{11 if kind == 'LOCALIZER' else 12}",
            "InstanceNumber": number,
            "ImageType": ["ORIGINAL", "PRIMARY", kind],
        }
        if not with_ctdivol:
            overrides["CTDIvol"] = None
        write_instance(make_dataset("CT", **overrides), folder)
    return config


def _check(config: Path) -> dg.AssetCheckEvaluation:
    site = SiteConfigResource(config_path=str(config))
    warehouse = WarehouseResource(site=site)
    result = dg.materialize(
        [curated_instances, curated_field_completeness],
        resources={"warehouse": warehouse, "curation": CurationResource(site=site, warehouse=warehouse)},
        partition_key=PARTITION,
    )
    return result.get_asset_check_evaluations()[0]


@pytest.fixture(autouse=True)
def _no_warehouse_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)


def test_localisers_without_ctdivol_do_not_warn(tmp_path: Path) -> None:
    # Half the images are localisers without CTDIvol, as on the demo site: the old rule warned here.
    check = _check(_site(tmp_path, [("LOCALIZER", False)] * 4 + [("AXIAL", True)] * 4))
    fields = check.metadata["field_completeness"].value
    assert fields["ct_acquisition.ctdivol_mgy"] == 0.5
    assert fields[DIAGNOSTIC_CTDIVOL] == 1.0
    assert check.passed
    assert check.metadata["device_completeness"].value["CT2"]["ct_ctdivol"] == 1.0


def test_helical_images_without_ctdivol_warn(tmp_path: Path) -> None:
    check = _check(_site(tmp_path, [("LOCALIZER", True)] + [("AXIAL", True)] * 2 + [("AXIAL", False)] * 2))
    assert check.metadata["field_completeness"].value[DIAGNOSTIC_CTDIVOL] == 0.5
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert DIAGNOSTIC_CTDIVOL in (check.description or "")


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_the_rule_in_sql_on_both_back_ends(make_warehouse: Warehouse) -> None:
    """The localiser filter (LIKE with a percent sign) on SQLite and PostgreSQL alike."""
    make_warehouse.upgrade()
    images = [("1", "ORIGINAL\\PRIMARY\\LOCALIZER", None), ("2", "ORIGINAL\\PRIMARY\\AXIAL", 8.0)]
    images += [("3", "ORIGINAL\\PRIMARY\\AXIAL", None), ("4", None, 7.0)]
    make_warehouse.replace_partition(
        Lineage(PARTITION, "test"),
        {
            Instance: [
                {
                    "sop_instance_uid": uid,
                    "series_instance_uid": "s",
                    "study_instance_uid": "t",
                    "image_type": kind,
                }
                for uid, kind, _ in images
            ],
            CtAcquisition: [
                {
                    "sop_instance_uid": uid,
                    "series_instance_uid": "s",
                    "study_instance_uid": "t",
                    "ctdivol_mgy": ctdi,
                }
                for uid, _, ctdi in images
            ],
            Series: [{"series_instance_uid": "s", "study_instance_uid": "t", "device_key": "d"}],
            Device: [{"device_key": "d", "station_canonical": "CT1"}],
        },
    )
    fields = field_completeness(make_warehouse, PARTITION)
    assert fields["ct_acquisition.ctdivol_mgy"] == 0.5
    assert fields[DIAGNOSTIC_CTDIVOL] == round(2 / 3, 4)  # the localiser is not counted
    assert device_completeness(make_warehouse, PARTITION) == {"CT1": {"ct_ctdivol": round(2 / 3, 4)}}
