"""The single Dagster ``Definitions`` of dicom-lake (``dagster dev`` / ``dg dev`` load this module)."""

from __future__ import annotations

import dagster as dg

from assets import (
    analytics,
    curation,
    deidentification,
    dose,
    mammography,
    physics_report,
    projection_dose,
    reports,
    retrieval,
)
from orchestration import jobs, schedules, sensors
from orchestration.executors import project_executor
from resources.analytics.resource import AnalyticsResource
from resources.curation.resource import CurationResource
from resources.deid.resource import DeidentificationResource
from resources.dose.mammography.resource import MammographyResource
from resources.dose.projection_resource import ProjectionDoseResource
from resources.dose.resource import DoseResource
from resources.pacs.resource import PacsResource
from resources.report.resource import ReportResource
from resources.site_resource import SiteConfigResource
from resources.warehouse.resource import WarehouseResource

# The site file is found through $DICOM_LAKE_CONFIG when a run starts (see SiteConfigResource).
_site = SiteConfigResource()
_warehouse = WarehouseResource(site=_site)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(
        [
            retrieval,
            deidentification,
            curation,
            dose,
            projection_dose,
            mammography,
            reports,
            analytics,
            physics_report,
        ]
    ),
    asset_checks=dg.load_asset_checks_from_modules([retrieval, deidentification, curation, dose, reports]),
    jobs=jobs.ALL_JOBS,
    schedules=schedules.ALL_SCHEDULES,
    sensors=sensors.ALL_SENSORS,
    # None (Dagster's default) unless $DICOM_LAKE_EXECUTOR=celery: see orchestration/executors.py.
    executor=project_executor(),
    resources={
        "site": _site,
        "pacs": PacsResource(site=_site),
        "deid": DeidentificationResource(site=_site, secret_key=dg.EnvVar("DICOM_LAKE_SECRET_KEY")),
        "warehouse": _warehouse,
        "curation": CurationResource(site=_site, warehouse=_warehouse),
        "dose": DoseResource(site=_site),
        "projection_dose": ProjectionDoseResource(site=_site),
        "mammography": MammographyResource(site=_site),
        "analytics": AnalyticsResource(warehouse=_warehouse),
        "report": ReportResource(site=_site),
    },
)
