"""Aranet4, Aranet2, Aranet Radiation and Aranet Radon: manufacturer data of 0x0702 (SAF
Tehnika), sent when "Smart Home integration" is on in the Aranet app.

Layouts from the Aranet4-Python project's documentation (docs/UUIDs.md, "Advertisement"
tables) and test vectors: the Aranet4 sends no type byte (its data is 7 bytes without the
integration, 22 with it); the others start with the type (1 Aranet2, 2 Radiation, 3 Radon).
Then, counting that type byte as byte 0: flags (bit 5: integration on), firmware version
(3 bytes), then little-endian readings:

* Aranet4 from byte 9: CO2 uint16 (ppm), temperature uint16 (1/20 °C), pressure uint16
  (0.1 hPa), humidity uint8 (%), battery %, status, interval, age, counter
* Aranet2 from byte 8: 2 bytes, temperature uint16 (1/20 °C), 2 bytes, humidity uint16
  (0.1 %), 1 byte, battery %, status...
* Radiation from byte 6: total dose uint32 (nSv), duration uint32 (s), dose rate uint16
  (10 nSv/h), 1 byte, battery %...
* Radon from byte 8: radon uint16 (Bq/m³; 0x1F00 and above: an error code), temperature
  uint16 (1/20 °C), pressure uint16 (0.1 hPa), humidity uint16 (0.1 %), 1 byte, battery %...

A value with its "invalid" bit set (bit 15; bit 14 for temperature) is left out. The
format has no negative temperatures.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, payload_of

__all__ = ["ARANET_COMPANY_ID", "decode_aranet", "identify_aranet"]

ARANET_COMPANY_ID = 0x0702
_INTEGRATION = 0x20
_NAMES = ("Aranet4", "Aranet2", "Aranet\u2622", "AranetRn")
MODELS = {0: "Aranet4", 1: "Aranet2", 2: "Aranet Radiation", 3: "Aranet Radon"}
_ARANET4_LENGTHS = (7, 22)
_BASIC = 8  # type, flags, version, 3 more bytes: the advert of an Aranet4 without readings

Values = tuple[Measurement, ...]


def _typed(advert: Advert, data: bytes) -> bytes:
    """The data with its type byte (the Aranet4 leaves it out)."""
    name = advert.name or ""
    aranet4 = name.startswith("Aranet4") or (
        not name.startswith(_NAMES) and len(data) in _ARANET4_LENGTHS)
    return b"\x00" + data if aranet4 else data


def identify_aranet(advert: Advert) -> Identity | None:
    data = advert.manufacturer_data.get(ARANET_COMPANY_ID)
    if not data:
        return None
    model = MODELS.get(_typed(advert, data)[0])
    return None if model is None else Identity("SAF Tehnika", model)


def _m(name: str, value: float, unit: str | None) -> Measurement:
    return Measurement(name, float(value), unit)


def _valid(raw: int, bit: int = 15) -> bool:
    return not raw >> bit & 1


def _temperature(raw: int) -> Values:
    return (_m("temperature", raw / 20, "°C"),) if _valid(raw, 14) else ()


def _tenths(name: str, unit: str, raw: int) -> Values:
    return (_m(name, raw / 10, unit),) if _valid(raw) else ()


def _aranet4(data: bytes) -> Values:
    co2, temp, pressure, humidity, battery = struct.unpack_from("<HHHBB", data, 9)
    return ((_m("co2", co2, "ppm"),) if _valid(co2) else ()) + _temperature(temp) + _tenths(
        "pressure", "hPa", pressure) + (_m("humidity", humidity, "%"), _m("battery", battery, "%"))


def _aranet2(data: bytes) -> Values:
    _, temp, _, humidity, _, battery = struct.unpack_from("<HHHHBB", data, 8)
    return _temperature(temp) + _tenths("humidity", "%", humidity) + (
        _m("battery", battery, "%"),)


def _radiation(data: bytes) -> Values:
    total, _, rate, _, battery = struct.unpack_from("<IIHBB", data, 6)
    return (_m("radiation_dose_rate", rate * 10 / 1000, "µSv/h"),
            _m("radiation_dose", total / 1000, "µSv"), _m("battery", battery, "%"))


def _radon(data: bytes) -> Values:
    radon, temp, pressure, humidity, _, battery = struct.unpack_from("<HHHHBB", data, 8)
    values = (_m("radon", radon, "Bq/m³"),) if radon < 0x1F00 else ()
    return values + _temperature(temp) + _tenths("pressure", "hPa", pressure) + _tenths(
        "humidity", "%", humidity) + (_m("battery", battery, "%"),)


_READERS: dict[int, tuple[int, Callable[[bytes], Values]]] = {
    # type: (bytes needed, reader)
    0: (22, _aranet4), 1: (20, _aranet2), 2: (20, _radiation), 3: (20, _radon),
}


def decode_aranet(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode an Aranet device's advert; without the Smart Home integration it carries no
    readings (a warning says so)."""
    del bindkey
    raw = payload_of(advert.manufacturer_data, ARANET_COMPANY_ID, "Aranet data (0x0702)")
    data = _typed(advert, raw)
    if len(data) < 5:
        raise DecodeError(f"Aranet data of {len(raw)} bytes is shorter than its header")
    model = MODELS.get(data[0])
    if model is None:
        raise DecodeError(f"Aranet device type {data[0]} is not supported", kind="unsupported")
    measurements, warnings = _readings(data)
    return Decoded(decoder="aranet", measurements=measurements, model=model,
                   manufacturer="SAF Tehnika", warnings=warnings)


def _readings(data: bytes) -> tuple[Values, tuple[str, ...]]:
    if not data[1] & _INTEGRATION:
        return (), ("Smart Home integration is off (turn it on in the Aranet app)",)
    if len(data) == _BASIC:
        return (), ("no readings in the advert (Aranet4 firmware before v1.2.0?)",)
    needed, reader = _READERS[data[0]]
    if len(data) < needed:
        raise DecodeError(f"Aranet data of {len(data)} bytes, expected {needed}")
    return reader(data), ()
