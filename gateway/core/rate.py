"""Readings per minute, counted where they happen: one-second buckets of ``time.monotonic()``.

A rate taken from two samples of a running total is wrong for bursty sources: a device that
publishes 2 readings every 10 s, sampled every 5 s from just before its first burst, has made
2 readings in the first 5 s (24/min) and 14 in the 60.01 s from a sample just before one burst
to a sample just after the seventh. Counting each reading into the second it happened in, "the
last minute" is exactly the 60 whole seconds before the current one: 6 bursts, 12 readings.
During the first minute there is no whole minute yet: :meth:`ReadingRate.last_minute` says so,
and the count is of the readings so far (never extrapolated).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["WINDOW", "ReadingRate"]

WINDOW = 60  # seconds


class ReadingRate:
    """Counts readings per second for the last :data:`WINDOW` seconds (plus the current one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first = int(clock())  # the second the count began in
        self._second = self._first  # the current bucket's second
        self._buckets = [0] * (WINDOW + 1)

    def add(self, count: int) -> None:
        """``count`` readings happened now (the hot path: a few operations)."""
        second = int(self._clock())
        if second != self._second:
            self._advance(second)
        self._buckets[second % (WINDOW + 1)] += count

    def last_minute(self) -> tuple[int, bool]:
        """Readings in the last :data:`WINDOW` whole seconds, and whether the count ran for all
        of them; if not, the count is of every reading so far (the current second included)."""
        second = int(self._clock())
        self._advance(second)
        if second - WINDOW < self._first:
            return sum(self._buckets), False
        return sum(self._buckets) - self._buckets[second % (WINDOW + 1)], True

    def _advance(self, second: int) -> None:
        """Empty the buckets of the seconds that passed without a reading."""
        if second <= self._second:
            return
        for passed in range(self._second + 1, min(second, self._second + WINDOW + 1) + 1):
            self._buckets[passed % (WINDOW + 1)] = 0
        self._second = second
