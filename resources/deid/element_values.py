"""Reading an element's VR and values the same way everywhere the de-identification walks a dataset."""

from __future__ import annotations

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag


def raw_vr(dataset: Dataset, tag: int) -> str:
    """The VR of an element without converting its value (dictionary VR for implicit-VR raw elements)."""
    # get_item() costs a third of the walk; the dictionary's own key object (from iterating it) is
    # found by identity, a plain int or a new BaseTag through BaseTag.__eq__ (Python code).
    element = dataset._dict.get(tag if type(tag) is BaseTag else BaseTag(tag))
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


# Python codecs (as pydicom names them) under which a text value's bytes decode in one step.
SINGLE_BYTE_CODECS = frozenset({"iso8859", "latin_1", "iso-8859-1", "ascii"})
UTF8_CODECS = frozenset({"UTF8", "utf_8", "utf-8"})
# Text VRs whose values a backslash separates, and those that hold one value (PS3.5 6.2).
_MULTI_TEXT_VRS = frozenset({"LO", "SH", "UC"})
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
# Code strings, dates and times: pydicom decodes them with its default (Latin-1) and splits them the same
# way (``multi_string``), unless it is configured to turn dates and times into objects.
_STRING_VRS = frozenset({"CS", "DA", "DT", "TM"})
_READ_VRS = _MULTI_TEXT_VRS | _SINGLE_TEXT_VRS | _STRING_VRS | {"PN"}
_ESC = 0x1B
_UNDEFINED_LENGTH = 0xFFFFFFFF


def text_codec(dataset: Dataset) -> str | None:
    """The one codec a data set's text values decode with, or None when it has several or another."""
    codecs = dataset._character_set
    if len(codecs) != 1:
        return None
    if codecs[0] in SINGLE_BYTE_CODECS:
        return "ascii" if codecs[0] == "ascii" else "latin-1"
    return "utf-8" if codecs[0] in UTF8_CODECS else None


def raw_text_values(dataset: Dataset, tag: int, codec: str | None = "") -> list[str] | None:
    """The values of a still-raw text, code string, date or time element: ``str`` of pydicom's values.

    Reading an element's text through pydicom converts it (a tenth of a millisecond per element with
    its hooks and validation) and a converted element is no longer written back as its source bytes.
    For the common case - an explicit-VR raw element in one single-byte or UTF-8 character set - the
    bytes are decoded, split and stripped here exactly as pydicom's converters do (a test compares
    both on every text element of a corpus). None means "ask pydicom": the element is converted, has
    another VR, escape sequences, undecodable bytes (pydicom's conversion then warns, which
    quarantines the instance) or a value shorter than its length (the collection reports it).
    An empty value gives an empty list. ``codec`` is :func:`text_codec` of the data set when the
    caller has it ("" asks for it here).
    """
    raw = dataset._dict.get(tag)  # type: ignore[call-overload]
    if type(raw) is not RawDataElement:
        return None
    value, vr = raw.value, raw.VR
    if not isinstance(value, bytes) or raw.length == _UNDEFINED_LENGTH or len(value) < raw.length:
        return None
    if not value:
        return [] if vr in _READ_VRS else None
    if vr in _STRING_VRS:
        if _ESC in value or (vr != "CS" and config.datetime_conversion):
            return None
        return value.decode("latin-1").rstrip(" \x00").split("\\")
    if vr not in _MULTI_TEXT_VRS and vr not in _SINGLE_TEXT_VRS and vr != "PN":
        return None
    if codec == "":
        codec = text_codec(dataset)
    if codec is None or _ESC in value:
        return None
    if vr == "PN":
        value = value.rstrip(b"\x00 ")
    try:
        text = value.decode(codec)
    except UnicodeDecodeError:
        return None
    if vr == "PN":
        return text.split("\\")
    if vr in _SINGLE_TEXT_VRS:
        return [text.rstrip("\x00 ")]
    return [part.rstrip("\x00 ") for part in text.split("\\")]
