"""Reading an element's VR and values the same way everywhere the de-identification walks a dataset."""

from __future__ import annotations

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag


def raw_vr(dataset: Dataset, tag: int) -> str:
    """The VR of an element without converting its value (dictionary VR for implicit-VR raw elements)."""
    element = dataset._dict.get(BaseTag(tag))  # get_item() costs a third of the walk
    vr = getattr(element, "VR", None)
    if vr:
        return str(vr)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def as_list(value: object) -> list[object]:
    """An element value as a list of its values: empty for None, one item for a single value."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]
