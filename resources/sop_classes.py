"""Storage SOP Class UIDs of structured reports that the retrieval selects and the dose stage reads.

One list for every room (PS3.4 B.5): the retrieval uses it to choose which series to pull, the dose
stage to decide which instances may carry a dose template.
"""

from __future__ import annotations

XRAY_RADIATION_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
RADIOPHARMACEUTICAL_RADIATION_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.68"
PATIENT_RADIATION_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.73"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

DOSE_SR_CLASSES = frozenset(
    {XRAY_RADIATION_DOSE_SR, RADIOPHARMACEUTICAL_RADIATION_DOSE_SR, PATIENT_RADIATION_DOSE_SR}
)
"""SOP classes that are dose reports by definition."""

GENERIC_SR_CLASSES = frozenset({ENHANCED_SR, COMPREHENSIVE_SR, BASIC_TEXT_SR})
"""General SR classes some scanners (older GE) write a dose template into."""

DOSE_CAPABLE_SOP_CLASSES = frozenset(
    {XRAY_RADIATION_DOSE_SR, ENHANCED_SR, COMPREHENSIVE_SR, COMPREHENSIVE_3D_SR}
)
"""SOP classes whose content tree may hold the X-Ray Radiation Dose template (TID 10001 / 10011)."""
