"""Ruuvi RAWv2 (data format 5) in manufacturer data of company 0x0499.

24 bytes, big-endian: format 5, temperature int16 (0.005 °C), humidity uint16 (0.0025 %),
pressure uint16 (Pa above 50 000), acceleration x/y/z int16 (mG), power info uint16 (11 bits
battery mV above 1600, 5 bits TX power in 2 dBm steps above -40 dBm), movement counter uint8,
measurement sequence uint16, MAC (6 bytes). A field at its "not available" value (the
smallest int16, the largest unsigned value, all MAC bits set) is left out.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

from gateway.sdk import DecodeError, Measurement

from ._model import (
    RUUVI_COMPANY_ID,
    Advert,
    Decoded,
    ScaledField,
    format_mac,
    parse_mac,
    payload_of,
    require_length,
)

MANUFACTURER = "Ruuvi Innovations"  # the maker of RuuviTag (company id 0x0499)

__all__ = ["decode_ruuvi", "decode_ruuvi_payload", "encode_ruuvi"]

_FORMAT_RAWV2 = 5
_LAYOUT = struct.Struct(">BhHHhhhHBH6s")
_MAC_NA = b"\xff" * 6


def _na(field: ScaledField) -> int:
    """Ruuvi's "not available": the smallest signed or the largest unsigned value."""
    return field.low if field.signed else field.high


def _raw(field: ScaledField, value: float) -> int:
    raw = field.raw(value)
    if not field.holds(raw) or raw == _na(field):
        raise ValueError(f"Ruuvi {field.name}={value} is out of range")
    return raw


# In payload order; voltage and tx_power share one uint16.
_FIELDS = (
    ScaledField("temperature", "°C", 16, signed=True, den=200),
    ScaledField("humidity", "%", 16, den=400),
    ScaledField("pressure", "hPa", 16, offset=50_000, den=100),
    ScaledField("acceleration_x", "g", 16, signed=True, den=1000),
    ScaledField("acceleration_y", "g", 16, signed=True, den=1000),
    ScaledField("acceleration_z", "g", 16, signed=True, den=1000),
)
_VOLTAGE = ScaledField("voltage", "V", 11, offset=1600, den=1000)
_TX_POWER = ScaledField("tx_power", "dBm", 5, num=2, offset=-40)
_MOVEMENT = ScaledField("movement_counter", None, 8)
_SEQUENCE_NA = 0xFFFF
_ALL = {f.name: f for f in (*_FIELDS, _VOLTAGE, _TX_POWER, _MOVEMENT)}


def decode_ruuvi(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's Ruuvi manufacturer data (``bindkey`` unused: RAWv2 is plain)."""
    del bindkey
    data = payload_of(advert.manufacturer_data, RUUVI_COMPANY_ID, "Ruuvi data (0x0499)")
    return decode_ruuvi_payload(data)


def decode_ruuvi_payload(data: bytes) -> Decoded:
    """Decode RAWv2 manufacturer data (company id already removed)."""
    if not data:
        raise DecodeError("empty Ruuvi manufacturer data")
    if data[0] != _FORMAT_RAWV2:
        raise DecodeError(f"Ruuvi data format {data[0]} is not supported (only 5, RAWv2)")
    require_length(data, _LAYOUT.size, "Ruuvi RAWv2")
    _, *scaled, power, movement, sequence, mac = _LAYOUT.unpack(data)
    raws = [*zip(_FIELDS, scaled, strict=True)]
    raws += [(_VOLTAGE, power >> 5), (_TX_POWER, power & 0x1F), (_MOVEMENT, movement)]
    measurements = tuple(
        Measurement(f.name, f.value(raw), f.unit) for f, raw in raws if raw != _na(f)
    )
    return Decoded(
        decoder="ruuvi",
        measurements=measurements,
        model="RuuviTag RAWv2",
        manufacturer=MANUFACTURER,
        packet_id=None if sequence == _SEQUENCE_NA else sequence,
        mac=None if mac == _MAC_NA else format_mac(mac),
    )


def encode_ruuvi(
    measurements: Iterable[Measurement],
    *,
    sequence: int | None = None,
    mac: str | None = None,
) -> bytes:
    """RAWv2 manufacturer data (without the company id) for simulators and tests.

    Measurements are looked up by the names and units :func:`decode_ruuvi_payload` produces;
    a missing one is sent as "not available". ``ValueError`` for an unknown name or unit,
    a value out of range, or a bad MAC.
    """
    by_name = {m.name: m for m in measurements}
    for m in by_name.values():
        field = _ALL.get(m.name)
        if field is None or field.unit != m.unit or not math.isfinite(m.value):
            raise ValueError(f"Ruuvi RAWv2 has no {m.name!r} in {m.unit!r} (value {m.value})")
    if sequence is not None and not 0 <= sequence < _SEQUENCE_NA:
        raise ValueError(f"Ruuvi measurement sequence {sequence} out of range")

    def raw(field: ScaledField) -> int:
        m = by_name.get(field.name)
        return _na(field) if m is None else _raw(field, m.value)

    return _LAYOUT.pack(
        _FORMAT_RAWV2,
        *(raw(f) for f in _FIELDS),
        raw(_VOLTAGE) << 5 | raw(_TX_POWER),
        raw(_MOVEMENT),
        _SEQUENCE_NA if sequence is None else sequence,
        _MAC_NA if mac is None else parse_mac(mac),
    )
