"""Bounded retries with exponential backoff: the one retry rule of the retrieval.

The first attempt runs at once; retry ``n`` (1-based) waits ``backoff_s * 2 ** (n - 1)`` first, and
there are at most ``max_retries`` of them. Planning a study (image-level C-FINDs), moving a study
(C-MOVE or C-GET, :mod:`resources.pacs.move_retry`) and repeating a C-FIND on a re-opened
association (:mod:`resources.pacs.query`, no backoff) all count their attempts with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """One attempt of a bounded retry: its number (0 is the first try) and whether it is the last."""

    number: int
    last: bool

    @property
    def is_retry(self) -> bool:
        return self.number > 0


class BoundedRetry:
    """Iterate over at most ``max_retries + 1`` attempts, sleeping the backoff before each retry.

    The loop body decides whether another attempt is needed (``break`` or ``return`` when done),
    and what to raise on the last one::

        for attempt in BoundedRetry(3, 2.0):
            try:
                return plan()
            except PacsUnavailableError:
                if attempt.last:
                    raise

    Parameters
    ----------
    max_retries
        Attempts after the first (0: one attempt only).
    backoff_s
        Wait before the first retry; it doubles for each further retry (0: no wait).
    sleep
        How to wait (injectable for tests).
    on_retry
        Called before each retry's wait (e.g. to count retries).
    """

    def __init__(
        self,
        max_retries: int,
        backoff_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._on_retry = on_retry

    @property
    def attempts(self) -> int:
        """How many attempts at most (the first one and the retries)."""
        return self.max_retries + 1

    def delay_s(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first retry)."""
        return self.backoff_s * (2 ** (retry - 1))

    def __iter__(self) -> Iterator[Attempt]:
        for number in range(self.attempts):
            if number:
                if self._on_retry is not None:
                    self._on_retry()
                delay = self.delay_s(number)
                if delay > 0:
                    self._sleep(delay)
            yield Attempt(number=number, last=number == self.max_retries)
