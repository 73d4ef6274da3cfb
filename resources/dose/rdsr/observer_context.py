"""PS3.16 TID 1002 Observer Context with TID 1004 Device Observer Identifying Attributes.

Every X-ray dose template (TID 10011 CT, TID 10001 projection X-ray) opens with the observer context of
the device that recorded the dose; only the device observer is kept. A person observer (TID 1003) names
staff and is not read.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.dose import codes
from resources.dose.codes import Code
from resources.dose.rdsr.content_items import TEXT_VALUE, UID_VALUE
from resources.dose.rdsr.content_tree import ContentNode, TextDecoder, ascii_value, raw_value
from resources.dose.rdsr.value_types import ValueType

DEVICE_OBSERVER_CONCEPTS = frozenset(
    {
        codes.DEVICE_OBSERVER_UID,
        codes.DEVICE_OBSERVER_NAME,
        codes.DEVICE_OBSERVER_MANUFACTURER,
        codes.DEVICE_OBSERVER_MODEL_NAME,
        codes.DEVICE_OBSERVER_SERIAL_NUMBER,
    }
)


@dataclass(frozen=True, slots=True)
class DeviceObserverIdentifyingAttributes:
    """PS3.16 TID 1004 Device Observer Identifying Attributes of the report."""

    uid: str | None
    name: str | None
    manufacturer: str | None
    model_name: str | None
    serial_number: str | None


class DeviceObserverReader:
    """Collects the PS3.16 TID 1004 Device Observer Identifying Attributes among the root's children."""

    def __init__(self, decoder: TextDecoder) -> None:
        self._decoder = decoder
        self._values: dict[Code, str | None] = {}

    def read(self, node: ContentNode) -> None:
        """Keep one device observer item (its concept is one of :data:`DEVICE_OBSERVER_CONCEPTS`)."""
        if node.concept is None:
            return
        if node.value_type is ValueType.UIDREF:
            self._values[node.concept] = ascii_value(node.item, UID_VALUE)
        else:
            raw = raw_value(node.item, TEXT_VALUE)
            self._values[node.concept] = self._decoder.text(raw) if raw is not None else None

    def build(self) -> DeviceObserverIdentifyingAttributes:
        values = self._values
        return DeviceObserverIdentifyingAttributes(
            uid=values.get(codes.DEVICE_OBSERVER_UID),
            name=values.get(codes.DEVICE_OBSERVER_NAME),
            manufacturer=values.get(codes.DEVICE_OBSERVER_MANUFACTURER),
            model_name=values.get(codes.DEVICE_OBSERVER_MODEL_NAME),
            serial_number=values.get(codes.DEVICE_OBSERVER_SERIAL_NUMBER),
        )
