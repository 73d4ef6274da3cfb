"""Being gentle with the PACS: a moves-per-minute rate limit and allowed time windows.

Window policy (a deliberate choice): outside the allowed windows retrieval **fails fast** with
:class:`OutsideAllowedWindowError` rather than waiting, because a waiting run would hold a ``pacs``
pool slot (and a run worker) for hours and hide the reason from the operator. Schedule the nightly
job inside the window; a backfill launched by day fails immediately with a message saying when the
next window opens. A retrieval already running when its window closes finishes the move in progress,
starts no new move, and fails with the same error, keeping what it received (the rerun resumes).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence

from resources.pacs.errors import OutsideAllowedWindowError
from resources.site_config import TimeWindow


class MoveRateLimiter:
    """At most ``max_per_minute`` moves start per minute (evenly spaced), shared between threads.

    ``max_per_minute`` of 0 means no limit. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        max_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = 60.0 / max_per_minute if max_per_minute > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: float | None = None
        self.waited_s = 0.0

    def acquire(self) -> float:
        """Block until the next move may start; returns how long this call waited (seconds)."""
        if self.interval_s == 0:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self.interval_s
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
            self.waited_s += wait
        return wait


def in_allowed_window(windows: Sequence[TimeWindow], moment: dt.datetime) -> bool:
    """True when no window is configured or ``moment`` (local wall time) falls in one of them."""
    if not windows:
        return True
    clock_time = moment.time().replace(tzinfo=None)
    return any(window.contains(clock_time) for window in windows)


def next_window_start(windows: Sequence[TimeWindow], moment: dt.datetime) -> dt.datetime | None:
    """When the next allowed window opens after ``moment`` (None when no window is configured)."""
    if not windows:
        return None
    candidates = []
    for window in windows:
        start = moment.replace(hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0)
        if start <= moment:
            start += dt.timedelta(days=1)
        candidates.append(start)
    return min(candidates)


def check_allowed_window(
    windows: Sequence[TimeWindow], moment: dt.datetime | None = None, *, timezone_name: str = "local"
) -> None:
    """Fail fast when retrieval is not allowed now.

    Raises
    ------
    OutsideAllowedWindowError
        Naming the configured windows and when the next one opens.
    """
    moment = moment or dt.datetime.now()
    if in_allowed_window(windows, moment):
        return
    spans = ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in windows)
    opens = next_window_start(windows, moment)
    raise OutsideAllowedWindowError(
        f"retrieval is allowed only in {spans} ({timezone_name} time); it is {moment:%H:%M} now; "
        f"the next window opens at {opens:%Y-%m-%d %H:%M}"
        if opens
        else "retrieval is not allowed now"
    )
