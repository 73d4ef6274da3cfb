"""PS3.16 TID 10015 CT Dose Check Details: the scanner's dose-check alert or notification for an event.

The container is Dose Check Alert Details (DCM 113900) or Dose Check Notification Details (DCM 113908),
inside the CT Dose container of TID 10013 (NEMA XR 25 "Dose Check"). The free-text reason for
proceeding and the person who authorised it are not kept (privacy): only whether a reason was given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from resources.dose import codes
from resources.dose.rdsr.content_items import CONCEPT_CODE, TEXT_VALUE
from resources.dose.rdsr.content_tree import (
    ContentNode,
    TextDecoder,
    children,
    first_code,
    measured_number,
    raw_value,
)


class DoseCheckKind(enum.StrEnum):
    """Which of the two PS3.16 TID 10015 CT Dose Check Details containers the details come from."""

    ALERT = "alert"  # DCM 113900: a configured alert value was or would have been exceeded
    NOTIFICATION = "notification"  # DCM 113908: a configured notification value


@dataclass(frozen=True, slots=True)
class CTDoseCheckDetails:
    """PS3.16 TID 10015 CT Dose Check Details: one alert or notification attached to an event."""

    kind: DoseCheckKind
    dlp_value_configured: bool | None
    ctdivol_value_configured: bool | None
    dlp_threshold: float | None
    ctdivol_threshold: float | None
    dlp_forward_estimate: float | None
    ctdivol_forward_estimate: float | None
    reason_given: bool

    @property
    def level_reached(self) -> bool:
        """Whether this check matters to a physicist.

        The container is written whenever the scanner ran its dose check; it only matters when a
        configured level was reached (forward estimate at or above it) or an operator had to give a
        reason to proceed.
        """
        reached = any(
            estimate is not None and threshold is not None and estimate >= threshold
            for estimate, threshold in (
                (self.dlp_forward_estimate, self.dlp_threshold),
                (self.ctdivol_forward_estimate, self.ctdivol_threshold),
            )
        )
        return reached or self.reason_given


def _yes_no(node: ContentNode) -> bool | None:
    code = first_code(node.item, CONCEPT_CODE)
    if code is None:
        return None
    return code in codes.YES_CODES


def read_ct_dose_check_details(
    node: ContentNode, kind: DoseCheckKind, decoder: TextDecoder
) -> CTDoseCheckDetails:
    """Read one Dose Check Alert Details or Dose Check Notification Details container."""
    alert = kind is DoseCheckKind.ALERT
    configured_dlp = codes.DLP_ALERT_VALUE_CONFIGURED if alert else codes.DLP_NOTIFICATION_VALUE_CONFIGURED
    configured_ctdi = (
        codes.CTDIVOL_ALERT_VALUE_CONFIGURED if alert else codes.CTDIVOL_NOTIFICATION_VALUE_CONFIGURED
    )
    numbers = {
        (codes.DLP_ALERT_VALUE if alert else codes.DLP_NOTIFICATION_VALUE): "dlp_threshold",
        (codes.CTDIVOL_ALERT_VALUE if alert else codes.CTDIVOL_NOTIFICATION_VALUE): "ctdivol_threshold",
        (codes.ACCUMULATED_DLP_FORWARD_ESTIMATE if alert else codes.DLP_FORWARD_ESTIMATE): "dlp_forward",
        (
            codes.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE if alert else codes.CTDIVOL_FORWARD_ESTIMATE
        ): "ctdivol_forward",
    }
    dlp_configured: bool | None = None
    ctdivol_configured: bool | None = None
    values: dict[str, float] = {}
    reason_given = False
    for child in children(node.item):
        if child.concept == configured_dlp:
            dlp_configured = _yes_no(child)
        elif child.concept == configured_ctdi:
            ctdivol_configured = _yes_no(child)
        elif child.concept == codes.REASON_FOR_PROCEEDING:
            reason_given = bool(raw_value(child.item, TEXT_VALUE))
        elif child.concept in numbers:
            number = measured_number(child, decoder)
            if number is not None and number.value is not None:
                values[numbers[child.concept]] = number.value
    return CTDoseCheckDetails(
        kind=kind,
        dlp_value_configured=dlp_configured,
        ctdivol_value_configured=ctdivol_configured,
        dlp_threshold=values.get("dlp_threshold"),
        ctdivol_threshold=values.get("ctdivol_threshold"),
        dlp_forward_estimate=values.get("dlp_forward"),
        ctdivol_forward_estimate=values.get("ctdivol_forward"),
        reason_given=reason_given,
    )
