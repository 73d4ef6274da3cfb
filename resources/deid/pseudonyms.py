"""Keyed pseudonyms: UIDs into the 2.25 root, patient pseudonyms, per-patient date shifts.

Everything is an HMAC-SHA256 under the site secret, with a purpose label so the same input never gives
related outputs for two purposes. The same input and key give the same output on every run and every
machine, which keeps SR references, series/study membership and reruns consistent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from functools import lru_cache

from resources.deid.errors import DeidSettingsError

_UID_CACHE_SIZE = 16_384


class Pseudonymiser:
    """HMAC-based pseudonyms under one site key (and, optionally, a second per-recipient key).

    Raises
    ------
    DeidSettingsError
        If the site secret key is shorter than 16 bytes.
    """

    def __init__(
        self, secret_key: bytes, *, recipient_key: bytes | None = None, max_shift_days: int = 365
    ) -> None:
        if len(secret_key) < 16:
            raise DeidSettingsError("the site secret key must be at least 16 bytes")
        self._key = secret_key
        self._recipient_key = recipient_key
        self.max_shift_days = max_shift_days
        self.uid = lru_cache(maxsize=_UID_CACHE_SIZE)(self._uid)

    def _digest(self, purpose: str, value: str, key: bytes | None = None) -> bytes:
        message = purpose.encode() + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(key or self._key, message, hashlib.sha256).digest()

    def _uid(self, source_uid: str) -> str:
        """A research UID in the 2.25 root (PS3.5 B.2) for a source UID: 128 bits of the HMAC."""
        number = int.from_bytes(self._digest("uid", source_uid.strip())[:16], "big")
        return f"2.25.{number}"

    def patient_key(self, patient_id: str, issuer: str = "") -> str:
        return f"{issuer.strip()}\x1f{patient_id.strip()}"

    def patient_pseudonym(self, patient_id: str, issuer: str = "") -> str:
        """First-stage pseudonym (issuer + ID), then the recipient stage when a recipient key is set."""
        first = self.first_stage_pseudonym(patient_id, issuer)
        if self._recipient_key is None:
            return first
        return self.recipient_pseudonym(first)

    def first_stage_pseudonym(self, patient_id: str, issuer: str = "") -> str:
        digest = self._digest("patient", self.patient_key(patient_id, issuer))
        return "P" + base64.b32encode(digest[:10]).decode().rstrip("=")

    def recipient_pseudonym(self, first_stage: str) -> str:
        """Second-stage (double) pseudonym for sharing with one recipient.

        Raises
        ------
        DeidSettingsError
            If no recipient key was configured.
        """
        if self._recipient_key is None:
            raise DeidSettingsError("no recipient key configured")
        digest = self._digest("recipient", first_stage, self._recipient_key)
        return "R" + base64.b32encode(digest[:10]).decode().rstrip("=")

    def value_pseudonym(self, purpose: str, value: str, length: int = 16) -> str:
        """A short stable token for identifiers kept for linkage (device serial numbers)."""
        digest = self._digest(purpose, value.strip())
        return base64.b32encode(digest).decode()[:length]

    def date_shift_days(self, patient_id: str, issuer: str = "") -> int:
        """One shift per patient, in [-max_shift_days, -1]: dates move back, intervals are preserved."""
        digest = self._digest("dateshift", self.patient_key(patient_id, issuer))
        return -(1 + int.from_bytes(digest[:8], "big") % self.max_shift_days)


def shift_da(value: str, days: int) -> str | None:
    """Shift one DA value; None when it is not a valid YYYYMMDD date."""
    text = value.strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
    try:
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    except OverflowError:
        return None


def shift_dt(value: str, days: int) -> str | None:
    """Shift one DT value's date part, keeping time and offset; None when the date part is invalid."""
    text = value.strip()
    if len(text) < 8:
        return None
    shifted = shift_da(text[:8], days)
    return None if shifted is None else shifted + text[8:]
