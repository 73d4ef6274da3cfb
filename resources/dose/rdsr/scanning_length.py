"""PS3.16 TID 10014 Scanning Length, as included in the CT Acquisition Parameters of TID 10013.

Only the two lengths are read: Scanning Length (DCM 113825) and Length of Reconstructable Volume
(DCM 113893), in mm. The table positions (Top/Bottom Z Location, DCM 113895-113898) and the frame of
reference they refer to are not needed by any dose calculation here.
"""

from __future__ import annotations

from resources.dose import codes
from resources.dose.codes import Code

# Concept -> (name in flags and in the event's invalid values, canonical unit).
SCANNING_LENGTH_NUMBERS: dict[Code, tuple[str, str | None]] = {
    codes.SCANNING_LENGTH: ("scanning_length", "mm"),
    codes.LENGTH_OF_RECONSTRUCTABLE_VOLUME: ("reconstructable_length", "mm"),
}
