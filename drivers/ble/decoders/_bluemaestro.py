"""BlueMaestro Tempo Disc: manufacturer data of company 0x0133.

From BlueMaestro's Tempo Disc advertising-packet description (as ble_monitor's BlueMaestro
pages and bluemaestro-ble's tables give it): byte 0 the device version, byte 1 battery %,
then for the classic discs (big-endian) logging interval (2), record count (2, a packet
id), temperature int16 (0.1 °C), humidity uint16 (0.1 %), and dew point int16 (0.1 °C,
THD) or pressure uint16 (0.1 hPa, THPD); the Maxi discs are little-endian with 13 bytes
after the battery, then temperature int16 and humidity int16 (0.01 units) and pressure
int32 (0.01 hPa).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, payload_of

__all__ = ["BLUEMAESTRO_COMPANY_ID", "decode_bluemaestro", "identify_bluemaestro"]

BLUEMAESTRO_COMPANY_ID = 0x0133


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    unit: str
    offset: int
    size: int
    den: int
    signed: bool = True


@dataclass(frozen=True, slots=True)
class _Layout:
    model: str
    order: Literal["big", "little"]
    fields: tuple[_Field, ...]
    counter_at: int | None = 4

    @property
    def length(self) -> int:
        return max(f.offset + f.size for f in self.fields) + 1  # and at least a byte more


_T = _Field("temperature", "°C", 6, 2, 10)
_HUMIDITY = _Field("humidity", "%", 8, 2, 10, signed=False)
_THD = _Layout("Tempo Disc THD", "big", (_T, _HUMIDITY, _Field("dew_point", "°C", 10, 2, 10)))
_MAXI_T = _Field("temperature", "°C", 15, 2, 100)
_MAXI_H = _Field("humidity", "%", 17, 2, 100)
LAYOUTS: dict[int, _Layout] = {
    0x0D: _Layout("Tempo Disc T", "big", (_T,)),
    0x16: _THD,
    0x17: _THD,
    0x1B: _Layout("Tempo Disc THPD", "big",
                  (_T, _HUMIDITY, _Field("pressure", "hPa", 10, 2, 10, signed=False))),
    0x29: _Layout("Tempo Disc Maxi T", "little", (_MAXI_T,), None),
    0x2A: _Layout("Tempo Disc Maxi THD", "little", (_MAXI_T, _MAXI_H), None),
    0x2B: _Layout("Tempo Disc Maxi THPD", "little",
                  (_MAXI_T, _MAXI_H, _Field("pressure", "hPa", 19, 4, 100)), None),
}


def identify_bluemaestro(advert: Advert) -> Identity | None:
    data = advert.manufacturer_data.get(BLUEMAESTRO_COMPANY_ID, b"")
    layout = LAYOUTS.get(data[0]) if data else None
    return None if layout is None else Identity("BlueMaestro", layout.model)


def _read(layout: _Layout, data: bytes, field: _Field) -> Measurement:
    raw = data[field.offset:field.offset + field.size]
    value = int.from_bytes(raw, layout.order, signed=field.signed)
    return Measurement(field.name, value / field.den, field.unit)


def decode_bluemaestro(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode a Tempo Disc's manufacturer data (plain format)."""
    del bindkey
    data = payload_of(advert.manufacturer_data, BLUEMAESTRO_COMPANY_ID,
                      "BlueMaestro data (0x0133)")
    layout = LAYOUTS.get(data[0]) if data else None
    if layout is None:
        version = f"0x{data[0]:02x}" if data else "none"
        raise DecodeError(f"BlueMaestro device version {version} is not supported",
                          kind="unsupported")
    if len(data) < layout.length:
        raise DecodeError(f"BlueMaestro {layout.model} data of {len(data)} bytes, "
                          f"expected at least {layout.length}")
    if data[1] > 100:
        raise DecodeError(f"BlueMaestro battery {data[1]} % > 100: a corrupt packet")
    values = (*(_read(layout, data, f) for f in layout.fields),
              Measurement("battery", float(data[1]), "%"))
    counter = layout.counter_at
    return Decoded(
        decoder="bluemaestro",
        measurements=values,
        model=layout.model,
        manufacturer="BlueMaestro",
        packet_id=None if counter is None else int.from_bytes(data[counter:counter + 2], "big"),
    )
