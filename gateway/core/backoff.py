"""Capped, jittered exponential backoff."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays ``initial * factor**n`` capped at ``maximum``, with "full jitter" on the top half.

    ``reset()`` after a success. The jitter keeps a fleet of gateways from reconnecting in lockstep.
    """

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempt = 0
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def jitter(self, low: float, high: float) -> float:
        """A uniform random factor in [low, high] (for delays outside the exponential run)."""
        return self._rng.uniform(low, high)

    def reset(self) -> None:
        self.attempt = 0
