"""Curation: de-identified headers normalised into warehouse rows (names, regions, units, flags)."""

from resources.curation.body_region import BodyRegionResult, infer_body_region
from resources.curation.curator import CurationSummary, PartitionCurator
from resources.curation.exam_names import ExamNameMapper

__all__ = ["BodyRegionResult", "CurationSummary", "ExamNameMapper", "PartitionCurator", "infer_body_region"]
