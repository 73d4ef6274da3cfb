"""The one root of dicom-lake's errors.

Every engine keeps a small ``errors`` module of its own (as pydicom keeps one ``errors.py``) whose
classes derive from :class:`DicomLakeError`, so a caller (the command line, an asset) can catch the
root once. Messages name the file, UID or setting and the reason; never a patient identifier or
source free text. A re-raise keeps its cause (``raise ... from exc``).
"""

from __future__ import annotations


class DicomLakeError(Exception):
    """Base class of every error dicom-lake raises on purpose."""


class ConfigurationError(DicomLakeError, ValueError):
    """A setting or a data file cannot work; the message names the setting or file and the reason."""
