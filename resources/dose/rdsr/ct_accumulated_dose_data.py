"""PS3.16 TID 10012 CT Accumulated Dose Data: the report's own totals (container DCM 113811).

The totals are kept as the report states them; the dose engine recomputes the DLP total from the unique
events and compares (:mod:`resources.dose.dedup`).
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.rdsr.content_tree import ContentNode, TextDecoder, children, measured_number

_ACCUMULATED_NAMES: dict[Code, str] = {
    codes.TOTAL_NUMBER_OF_IRRADIATION_EVENTS: "events",
    codes.CT_DOSE_LENGTH_PRODUCT_TOTAL: "dlp",
    codes.CT_EFFECTIVE_DOSE_TOTAL: "effective_dose",
}


@dataclass(frozen=True, slots=True)
class CTAccumulatedDoseData:
    """PS3.16 TID 10012 CT Accumulated Dose Data as the report states it."""

    total_number_of_events: int | None
    dlp_total_mgycm: float | None
    effective_dose_total_msv: float | None


class CTAccumulatedDoseDataReader:
    """Reads the PS3.16 TID 10012 CT Accumulated Dose Data container(s) of one report.

    A report has one; should a vendor write more, a later value replaces an earlier one and every invalid
    number is flagged.
    """

    def __init__(self, decoder: TextDecoder) -> None:
        self._decoder = decoder
        self._values: dict[str, float] = {}
        self.flags: list[str] = []

    def read(self, node: ContentNode) -> None:
        for child in children(node.item):
            name = _ACCUMULATED_NAMES.get(child.concept) if child.concept else None
            if name is None:
                continue
            number = measured_number(child, self._decoder)
            if number is None:
                continue
            if number.value is None:
                self.flags.append(f"invalid_number:accumulated_{name}")
            else:
                self._values[name] = number.value

    def build(self) -> CTAccumulatedDoseData:
        events_count = self._values.get("events")
        return CTAccumulatedDoseData(
            total_number_of_events=int(events_count) if events_count is not None else None,
            dlp_total_mgycm=self._values.get("dlp"),
            effective_dose_total_msv=self._values.get("effective_dose"),
        )
