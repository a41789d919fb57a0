"""SensorPush HT.w, HTP.xw and TC.x: readings packed into the manufacturer data.

As the SensorPush parsers' test tables lay it out: the two bytes bleak reports as the
company id and the bytes after them form one little-endian stream. Its first byte holds
the device type (bits 7-2, plus 64: 64 HTP.xw, 65 HT.w, 66 TC.x) and the page (bits 1-0,
0 for readings); the rest is one little-endian integer packing each value as an index
into its range, in mixed radix (temperature first):

* HT.w: temperature -40..125 °C and humidity 0..100 %, steps of 0.0025
* HTP.xw: the same with temperature up to 140 °C, then pressure 30 000..125 000 Pa, step 1
* TC.x: thermocouple temperature -200..1800 °C, step 0.0625

Values are reported to 0.01 (the sensors' accuracy is far coarser). Devices are told apart
from other users of those "company ids" by their name or SensorPush's service UUID.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity

__all__ = ["decode_sensorpush", "identify_sensorpush", "matches_sensorpush"]

SENSORPUSH_UUID = "ef090000-11d6-42ba-93b8-9dd7ec090ab0"
_NAMES = ("SensorPush", "HT.w", "HTP.xw", "TC.x")


@dataclass(frozen=True, slots=True)
class _Range:
    name: str
    unit: str
    low: int
    high: int
    per_unit: int  # steps per unit: 400 for 0.0025
    scale: int = 1  # reported value = value / scale (Pa -> hPa: 100)

    @property
    def levels(self) -> int:
        return (self.high - self.low) * self.per_unit + 1


_HUMIDITY = _Range("humidity", "%", 0, 100, 400)
TYPES: dict[int, tuple[str, tuple[_Range, ...]]] = {
    64: ("HTP.xw", (_Range("temperature", "°C", -40, 140, 400), _HUMIDITY,
                    _Range("pressure", "hPa", 30_000, 125_000, 1, scale=100))),
    65: ("HT.w", (_Range("temperature", "°C", -40, 125, 400), _HUMIDITY)),
    66: ("TC.x", (_Range("temperature", "°C", -200, 1800, 16),)),
}


def matches_sensorpush(advert: Advert) -> bool:
    named = any(n in (advert.name or "") for n in _NAMES)
    return bool(advert.manufacturer_data) and (named or SENSORPUSH_UUID in advert.service_uuids)


def _data(advert: Advert) -> bytes:
    """The (last) entry with page 0 data, its two id bytes put back in front."""
    streams = [c.to_bytes(2, "little") + p for c, p in advert.manufacturer_data.items()]
    readings = [s for s in streams if s[0] & 0x03 == 0]
    if not readings:
        raise DecodeError("SensorPush advert without a readings page", kind="unsupported")
    return readings[-1]


def identify_sensorpush(advert: Advert) -> Identity | None:
    if not matches_sensorpush(advert):
        return None
    try:
        type_id = 64 + (_data(advert)[0] >> 2)
    except DecodeError:
        return Identity("SensorPush", "SensorPush")
    return Identity("SensorPush", TYPES.get(type_id, ("SensorPush",))[0])


def _unpack(ranges: tuple[_Range, ...], packed: int) -> tuple[Measurement, ...]:
    values = []
    for r in ranges:
        packed, index = divmod(packed, r.levels)
        value = (r.low * r.per_unit + index) / r.per_unit / r.scale
        values.append(Measurement(r.name, round(value, 2), r.unit))
    if packed:
        raise DecodeError("SensorPush value out of its range: a corrupt packet")
    return tuple(values)


def decode_sensorpush(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode a SensorPush advert (plain format)."""
    del bindkey
    if not matches_sensorpush(advert):
        raise DecodeError("not a SensorPush advert", kind="unsupported")
    data = _data(advert)
    type_id = 64 + (data[0] >> 2)
    known = TYPES.get(type_id)
    if known is None:
        raise DecodeError(f"SensorPush device type {type_id} is not supported",
                          kind="unsupported")
    model, ranges = known
    return Decoded(
        decoder="sensorpush",
        measurements=_unpack(ranges, int.from_bytes(data[1:], "little")),
        model=model,
        manufacturer="SensorPush",
    )
