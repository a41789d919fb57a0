"""Custom firmware of Xiaomi LYWSD03MMC-style thermometers: service data UUID 0x181A.

Told apart by length:

* ATC1441, 13 bytes, big-endian: MAC (6, as printed), temperature int16 (0.1 °C),
  humidity uint8 (%), battery uint8 (%), battery uint16 (mV), frame counter uint8.
* pvvx custom, 15 bytes, little-endian: MAC (6, reversed), temperature int16 (0.01 °C),
  humidity uint16 (0.01 %), battery uint16 (mV), battery uint8 (%), counter uint8, flags uint8.

The pvvx firmware's encrypted formats and its BTHome mode are not this decoder's (BTHome
adverts go to the ``bthome`` decoder).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

from gateway.sdk import DecodeError, Measurement

from ._model import ATC_UUID, Advert, Decoded, format_mac, parse_mac, payload_of

__all__ = ["decode_atc", "decode_atc_payload", "encode_atc1441", "encode_pvvx"]

_ATC1441 = struct.Struct(">6shBBHB")
_PVVX = struct.Struct("<6shHHBBB")


def decode_atc(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's 0x181A service data (``bindkey`` unused: these formats are plain)."""
    del bindkey
    return decode_atc_payload(payload_of(advert.service_data, ATC_UUID, "0x181A service data"))


def decode_atc_payload(data: bytes) -> Decoded:
    """Decode ATC1441 (13 bytes) or pvvx custom (15 bytes) service data."""
    if len(data) == _ATC1441.size:
        mac, temp, humidity, battery, millivolts, counter = _ATC1441.unpack(data)
        model, temperature, humidity_pct = "ATC1441", temp / 10, float(humidity)
    elif len(data) == _PVVX.size:
        mac, temp, humidity, millivolts, battery, counter, _flags = _PVVX.unpack(data)
        model, temperature, humidity_pct, mac = "pvvx", temp / 100, humidity / 100, mac[::-1]
    else:
        raise DecodeError(f"0x181A service data of {len(data)} bytes: neither ATC1441 nor pvvx")
    return Decoded(
        decoder="atc",
        measurements=(
            Measurement("temperature", temperature, "°C"),
            Measurement("humidity", humidity_pct, "%"),
            Measurement("battery", float(battery), "%"),
            Measurement("voltage", millivolts / 1000, "V"),
        ),
        model=model,
        packet_id=counter,
        mac=format_mac(mac),
    )


def _values(measurements: Iterable[Measurement]) -> dict[str, float]:
    """Name -> value of the four measurements both formats carry; ``ValueError`` otherwise."""
    units = {"temperature": "°C", "humidity": "%", "battery": "%", "voltage": "V"}
    values = {m.name: m.value for m in measurements if units.get(m.name) == m.unit}
    missing = units.keys() - values.keys()
    if missing:
        raise ValueError(f"ATC/pvvx adverts need {sorted(missing)} (with units {units})")
    if not all(math.isfinite(v) for v in values.values()):
        raise ValueError(f"cannot encode {values}")
    return values


def _pack(layout: struct.Struct, *fields: bytes | int) -> bytes:
    try:
        return layout.pack(*fields)
    except struct.error as exc:
        raise ValueError(f"value out of range: {exc}") from exc


def encode_atc1441(measurements: Iterable[Measurement], *, mac: str, counter: int) -> bytes:
    """ATC1441 service data (13 bytes) from temperature, humidity, battery, voltage."""
    v = _values(measurements)
    return _pack(
        _ATC1441,
        parse_mac(mac),
        round(v["temperature"] * 10),
        round(v["humidity"]),
        round(v["battery"]),
        round(v["voltage"] * 1000),
        counter,
    )


def encode_pvvx(
    measurements: Iterable[Measurement], *, mac: str, counter: int, flags: int = 0
) -> bytes:
    """pvvx custom service data (15 bytes) from temperature, humidity, battery, voltage."""
    v = _values(measurements)
    return _pack(
        _PVVX,
        parse_mac(mac)[::-1],
        round(v["temperature"] * 100),
        round(v["humidity"] * 100),
        round(v["voltage"] * 1000),
        round(v["battery"]),
        counter,
        flags,
    )
