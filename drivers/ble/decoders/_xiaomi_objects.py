"""MiBeacon objects: id (uint16 LE), length (uint8), value -> measurements.

Object ids and layouts from Xiaomi's "Mijia BLE Object Definition" (0x0xxx events, 0x1xxx
attributes; an English copy lives in pvvx/ATC_MiThermometer, InfoMijiaBLE/) and, for the
MIoT-spec ids (0x48xx, 0x4Axx, 0x4Cxx) that newer models send, the public decoders' test
tables (xiaomi-ble tests/test_parser.py), whose vectors tests/ble_decoders/test_xiaomi.py
replays. Binary states are 0/1 measurements without a unit, as BTHome's are.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

from gateway.sdk import DecodeError, Measurement

__all__ = ["OBJECTS", "MiObject", "object_id_for", "parse_objects"]

Values = tuple[Measurement, ...]


@dataclass(frozen=True, slots=True)
class MiObject:
    """One object type: its value's exact length and what it means."""

    size: int
    read: Callable[[bytes], Values]


def _int(raw: bytes, *, signed: bool = False) -> int:
    return int.from_bytes(raw, "little", signed=signed)


def _float32(raw: bytes) -> float:
    """A little-endian float32, as the shortest decimal that is the same float32."""
    (value,) = struct.unpack("<f", raw)
    if not math.isfinite(value):
        raise DecodeError(f"MiBeacon float value {value} is not a reading")
    return float(f"{value:.7g}")


def _m(name: str, value: float, unit: str | None = None) -> Measurement:
    return Measurement(name, float(value), unit)


def _scaled(name: str, unit: str | None, size: int, den: int = 1, *,
            signed: bool = False) -> MiObject:
    return MiObject(size, lambda raw: (_m(name, _int(raw, signed=signed) / den, unit),))


def _flag(name: str) -> MiObject:
    """A one-byte state: 0 -> 0, anything else -> 1."""
    return MiObject(1, lambda raw: (_m(name, raw[0] != 0),))


def _temp_humidity(raw: bytes) -> Values:
    return (_m("temperature", _int(raw[:2], signed=True) / 10, "°C"),
            _m("humidity", _int(raw[2:]) / 10, "%"))


def _motion_illuminance(raw: bytes) -> Values:
    """Someone moved; the value is the light level (lux) at that moment."""
    return _m("motion", 1), _m("illuminance", _int(raw), "lx")


def _no_motion(raw: bytes) -> Values:
    """Seconds without motion; 0 is sent when someone moves."""
    seconds = _int(raw)
    return _m("motion", seconds == 0), _m("no_motion_time", seconds, "s")


def _door(raw: bytes) -> Values:
    """0 open, 1 closed, 2 left open (timeout), 3 device reset (no state)."""
    state = raw[0]
    if state > 2:
        return ()
    return (_m("opening", state != 1),)


def _door_miot(raw: bytes) -> Values:
    """MIoT door state: 1 open, 2 closed, 3 left open."""
    opening = {1: 1, 2: 0, 3: 1}.get(raw[0])
    return () if opening is None else (_m("opening", opening),)


def _button(raw: bytes) -> Values:
    """Button event: the button's index (uint16) and the press type (0 single, 1 double,
    2 long, 3 triple...; remotes and dimmers use their own codes)."""
    return _m("button", raw[2]), _m("button_id", _int(raw[:2]))


def _motion_illuminance_float(raw: bytes) -> Values:
    return _m("motion", 1), _m("illuminance", _float32(raw), "lx")


def _float(name: str, unit: str | None) -> MiObject:
    return MiObject(4, lambda raw: (_m(name, _float32(raw), unit),))


OBJECTS: dict[int, MiObject] = {
    # events
    0x0003: MiObject(1, lambda raw: (_m("motion", 1),)),  # "near": someone is here
    0x000F: MiObject(3, _motion_illuminance),
    0x1001: MiObject(3, _button),
    # attributes
    0x1004: _scaled("temperature", "°C", 2, 10, signed=True),
    0x1006: _scaled("humidity", "%", 2, 10),
    0x1007: _scaled("illuminance", "lx", 3),
    0x1008: _scaled("moisture", "%", 1),
    0x1009: _scaled("conductivity", "µS/cm", 2),
    0x100A: _scaled("battery", "%", 1),
    0x100D: MiObject(4, _temp_humidity),
    0x1010: _scaled("formaldehyde", "mg/m³", 2, 100),
    0x1012: _flag("power_on"),
    0x1013: _scaled("consumable", "%", 1),
    0x1014: _flag("moisture_detected"),
    0x1015: _flag("smoke"),
    0x1017: MiObject(4, _no_motion),
    0x1018: _flag("light"),
    0x1019: MiObject(1, _door),
    # "nobody moved for a while": 1 byte in the spec, 4 (uint32 LE) on the RTCGQ02LM
    0x101B: MiObject(4, lambda raw: (_m("motion", _int(raw) == 0),)),
    # MIoT-spec objects of newer models
    0x4801: _float("temperature", "°C"),
    0x4802: _scaled("humidity", "%", 1),
    0x4803: _scaled("battery", "%", 1),
    0x4804: MiObject(1, _door_miot),
    0x4805: _float("illuminance", "lx"),
    0x4818: MiObject(2, _no_motion),
    0x4A08: MiObject(4, _motion_illuminance_float),
    0x4C01: _float("temperature", "°C"),
    0x4C02: _scaled("humidity", "%", 1),
    0x4C03: _scaled("battery", "%", 1),
    0x4C08: _float("humidity", "%"),
}
"""Objects this decoder understands, by id."""

_ENCODE_IDS: dict[tuple[str, str | None], int] = {
    ("temperature", "°C"): 0x1004, ("humidity", "%"): 0x1006, ("illuminance", "lx"): 0x1007,
    ("moisture", "%"): 0x1008, ("conductivity", "µS/cm"): 0x1009, ("battery", "%"): 0x100A,
    ("formaldehyde", "mg/m³"): 0x1010,
}


def object_id_for(m: Measurement) -> int | None:
    """The plain object that carries ``m`` (for encoders), or ``None``."""
    return _ENCODE_IDS.get((m.name, m.unit))


def parse_objects(payload: bytes, *, strict: bool) -> tuple[Values, tuple[str, ...]]:
    """Objects -> (measurements, warnings).

    An object whose length disagrees with its id, or one running past the payload, raises
    ``DecodeError``. An unknown id is skipped with a warning, or raises when ``strict``
    (bytes no tag vouches for: a legacy-encrypted payload decrypted with a wrong key).
    """
    values: list[Measurement] = []
    warnings: list[str] = []
    pos = 0
    while pos < len(payload):
        obj_id, value, pos = _next_object(payload, pos)
        known = OBJECTS.get(obj_id)
        if known is None:
            if strict:
                raise DecodeError(f"unknown MiBeacon object 0x{obj_id:04x}")
            warnings.append(f"unknown MiBeacon object 0x{obj_id:04x} skipped")
        elif len(value) != known.size:
            raise DecodeError(f"MiBeacon object 0x{obj_id:04x} has {len(value)} bytes, "
                              f"expected {known.size}")
        else:
            values.extend(known.read(value))
    return tuple(values), tuple(warnings)


def _next_object(payload: bytes, pos: int) -> tuple[int, bytes, int]:
    if pos + 3 > len(payload):
        raise DecodeError(f"truncated MiBeacon object header at byte {pos}")
    obj_id = _int(payload[pos:pos + 2])
    end = pos + 3 + payload[pos + 2]
    if end > len(payload):
        raise DecodeError(f"MiBeacon object 0x{obj_id:04x} runs past the frame")
    return obj_id, payload[pos + 3:end], end
