"""The dose engine's view of the curation engine: body region from the body part, canonical exam names.

The curation package (``resources.curation``) owns body-part normalisation and exam-name mapping. The
dose engine depends only on the two small callables below, so it can be used (and tested) with other
implementations; :func:`default_exam_context` wires in the curation package when it is importable.
Contract used:

* ``resources.curation.body_region.infer_body_region(text)`` -> result with ``.code``, ``.name``,
  ``.confidence`` and ``.evidence`` (or None);
* ``resources.curation.exam_names.ExamNameMapper.default().map(text, "CT")`` -> canonical exam name or
  None.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resources.curation.body_region import infer_body_region
from resources.curation.exam_names import ExamNameMapper
from resources.dose.codes import TARGET_REGION_CODES, BodyRegion, Code

logger = logging.getLogger(__name__)

RegionInferrer = Callable[[str], BodyRegion | None]
ExamNamer = Callable[[str], str | None]

# Words a region name from the curation engine may use, mapped to the k-factor regions.
_REGION_WORDS: dict[str, BodyRegion] = {
    "head": BodyRegion.HEAD,
    "brain": BodyRegion.HEAD,
    "skull": BodyRegion.HEAD,
    "sinus": BodyRegion.HEAD,
    "sinuses": BodyRegion.HEAD,
    "head_and_neck": BodyRegion.HEAD_AND_NECK,
    "headneck": BodyRegion.HEAD_AND_NECK,
    "neck": BodyRegion.NECK,
    "cspine": BodyRegion.NECK,
    "chest": BodyRegion.CHEST,
    "thorax": BodyRegion.CHEST,
    "lung": BodyRegion.CHEST,
    "abdomen": BodyRegion.ABDOMEN_AND_PELVIS,
    "pelvis": BodyRegion.ABDOMEN_AND_PELVIS,
    "abdomen_and_pelvis": BodyRegion.ABDOMEN_AND_PELVIS,
    "abdomenpelvis": BodyRegion.ABDOMEN_AND_PELVIS,
    "chest_abdomen_pelvis": BodyRegion.CHEST_ABDOMEN_PELVIS,
    "chestabdomenpelvis": BodyRegion.CHEST_ABDOMEN_PELVIS,
    "trunk": BodyRegion.TRUNK,
    "chest_abdomen": BodyRegion.TRUNK,
}

MIN_REGION_CONFIDENCE = 0.5


def region_from_inference(result: Any) -> BodyRegion | None:
    """Turn a curation ``infer_body_region`` result into a k-factor region (None when it has none)."""
    if result is None or getattr(result, "confidence", 1.0) < MIN_REGION_CONFIDENCE:
        return None
    code = getattr(result, "code", None)
    if code:
        for scheme in ("SCT", "SRT", "DCM"):
            region = TARGET_REGION_CODES.get(Code(str(code), scheme))
            if region is not None:
                return region
    name = getattr(result, "name", None)
    if name:
        key = re.sub(r"[^a-z]+", "_", str(name).lower()).strip("_")
        return _REGION_WORDS.get(key) or _REGION_WORDS.get(key.replace("_", ""))
    return None


@dataclass(frozen=True)
class ExamContext:
    """Where region and exam name come from when the dose report itself does not say."""

    infer_region: RegionInferrer
    exam_name: ExamNamer


def default_exam_context() -> ExamContext:
    """The curation engine's body-region inference and exam-name mapping, as the dose stage uses them."""
    mapper = ExamNameMapper.default()

    def infer(text: str) -> BodyRegion | None:
        return region_from_inference(infer_body_region(text))

    def namer(text: str) -> str | None:
        result = mapper.map(text, "CT")
        return str(result) if result else None

    return ExamContext(infer_region=infer, exam_name=namer)
