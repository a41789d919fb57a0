"""Report-by-exception: which readings a sensor publishes (``deadband`` and ``heartbeat``).

A sensor with a deadband publishes a reading only when it differs from the last *published*
value by more than the deadband, or when ``heartbeat`` seconds have passed since its last
published reading. ``deadband`` is absolute (``0.2``: in the sensor's unit) or relative to the
last published value (``"2%"``). ``deadband = 0`` publishes every change and no repeats.
Pure: no clock, no I/O; the device passes the times in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Deadband", "ReportPolicy", "parse_deadband"]

_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%\s*$")


@dataclass(frozen=True, slots=True)
class Deadband:
    """``amount`` in the sensor's unit, or in percent of the last published value."""

    amount: float
    percent: bool = False

    def inside(self, last: float, value: float) -> bool:
        """Whether ``value`` lies within the deadband around ``last`` (so is not published)."""
        limit = abs(last) * self.amount / 100 if self.percent else self.amount
        return abs(value - last) <= limit

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.percent else f"{self.amount:g}"


def parse_deadband(value: float | str) -> Deadband:
    """``0.5`` -> absolute, ``"2%"`` -> relative; ValueError for anything else or < 0."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match is None:
            raise ValueError(f"must be a number or a percentage like '2%', not {value!r}")
        return Deadband(float(match[1]), percent=True)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError("must be a finite number >= 0")
    return Deadband(number)


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    """One sensor's report-by-exception settings."""

    deadband: Deadband
    heartbeat: float | None = None

    def publish(self, last: float | None, value: float, since_published: float) -> bool:
        """Publish ``value``? ``last`` is the last published value (None: nothing yet)."""
        if last is None or math.isnan(last) or math.isnan(value):
            return True
        if self.heartbeat is not None and since_published >= self.heartbeat:
            return True
        return not self.deadband.inside(last, value)
