"""What drivers hand to the core: measurements, stamped by the core into readings."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Measurement"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One decoded value of one sensor, as a driver or a pure decoder produces it.

    ``name`` is the sensor name (it becomes the last topic level after sanitising),
    ``value`` a number, ``unit`` the unit symbol (``"°C"``, ``"%"``, ``"hPa"``, ``"ppm"``,
    ``"µg/m³"``...) or ``None`` for unitless values.
    """

    name: str
    value: float
    unit: str | None = None
