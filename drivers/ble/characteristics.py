"""GATT characteristics as numbers: UUID spelling, ``struct`` formats, the standard ones.

Pure (no bleak): the config validates with it, the GATT driver decodes with it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from drivers.ble.decoders import uuid16
from gateway.sdk import DecodeError, Measurement

__all__ = ["STANDARD", "CharSpec", "check_format", "normalize_uuid"]

_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID16 = re.compile(r"^(0x)?[0-9a-f]{4}$")


def normalize_uuid(value: str) -> str:
    """``"2A6E"``, ``"0x2a6e"`` or a 128-bit UUID -> the lowercase 128-bit form bleak uses."""
    text = value.strip().lower()
    if _UUID16.match(text):
        return uuid16(int(text.removeprefix("0x"), 16))
    if _UUID128.match(text):
        return text
    raise ValueError("must be a 16-bit UUID like '2a6e' or a 128-bit UUID")


def check_format(fmt: str) -> None:
    """``ValueError`` unless ``fmt`` is a struct format giving exactly one number."""
    try:
        count = len(struct.unpack(fmt, bytes(struct.calcsize(fmt))))
    except struct.error as exc:
        raise ValueError(f"not a struct format: {exc}") from None
    if count != 1 or fmt.rstrip()[-1:] in ("s", "p", "x", "?"):
        raise ValueError("must give exactly one number, e.g. '<h' or '<I'")


@dataclass(frozen=True, slots=True)
class CharSpec:
    """How one characteristic's bytes become one measurement: ``raw * scale + offset``."""

    uuid: str
    name: str
    fmt: str
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    def measurement(self, data: bytes) -> Measurement:
        """Decode one value (pure); DecodeError on a wrong length."""
        size = struct.calcsize(self.fmt)
        if len(data) < size:
            raise DecodeError(f"{self.name}: expected {size} bytes, got {len(data)}")
        (raw,) = struct.unpack_from(self.fmt, data)
        value = raw * self.scale + self.offset
        return Measurement(self.name, round(value, 10), self.unit)


STANDARD: dict[str, CharSpec] = {
    spec.uuid: spec for spec in (
        CharSpec(uuid16(0x2A6E), "temperature", "<h", 0.01, unit="°C"),
        CharSpec(uuid16(0x2A6F), "humidity", "<H", 0.01, unit="%"),
        CharSpec(uuid16(0x2A6D), "pressure", "<I", 0.001, unit="hPa"),
        CharSpec(uuid16(0x2A19), "battery", "<B", 1.0, unit="%"),
    )
}
"""The characteristics read wherever a device has them (``standard = true``)."""


