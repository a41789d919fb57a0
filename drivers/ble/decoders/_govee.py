"""Govee thermo-hygrometers, PM2.5/CO2 monitors and meat thermometers (manufacturer data).

Formats as the Govee parsers' test tables and ble_monitor's Govee pages lay them out (the
bytes after the 2-byte company id; "packed" is a 24-bit big-endian number whose bit 23 is
the sign: ``temperature = (packed & 0x7FFFFF) // 1000 / 10``,
``humidity = (packed & 0x7FFFFF) % 1000 / 10``; a battery byte's bit 7 flags a sensor error):

* company 0xEC88, 6 bytes (H5072, H5075): ``00 | packed (3) | battery | 00``
* company 0xEC88, 7 bytes (H5074) and 9 bytes (H5051, H5052, H5071):
  ``00 | temperature int16 LE (0.01 °C) | humidity uint16 LE (0.01 %) | battery | ...``
* company 0x0001, 6 bytes (H5100-H5105, H5108, H5110, H5174, H5177, GV5179):
  ``01 01 | packed (3) | battery``; 8 bytes H5140: ``01 01 | packed | CO2 uint16 BE | error``;
  6 bytes H5106: ``01 01 | uint32 BE`` = temperature (0.1 °C) x 10^6 + humidity (0.1 %)
  x 10^3 + PM2.5 (µg/m³), bit 31 the sign
* company 0x8801 (H5179), 9 bytes: ``ec 00 01 01 | temperature int16 LE | humidity uint16 LE
  | battery``
* meat thermometers (H5181-H5185, H5198): 14, 17 or 20 bytes under a changing "company
  id"; probe temperatures are int16 BE in 0.01 °C at bytes 8 (and 13 or 14), 0xFFFF when a
  probe is unplugged.

Company 0x0001 is not Govee's alone, nor are the meat thermometers' changing "company ids":
those adverts are Govee's only when the advertised name (GVH5xxx, GV5xxx, Govee_H5xxx), or
for the meat thermometers their service UUID (0x8151...), says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, uuid16

__all__ = ["GOVEE_COMPANY_ID", "decode_govee", "encode_govee_h5075", "govee_model",
           "identify_govee", "matches_govee"]

GOVEE_COMPANY_ID = 0xEC88
MODELS = ("H5051", "H5052", "H5071", "H5072", "H5074", "H5075", "H5100", "H5101", "H5102",
          "H5103", "H5104", "H5105", "H5106", "H5108", "H5110", "H5140", "H5174", "H5177",
          "H5179", "H5181", "H5182", "H5183", "H5184", "H5185", "H5198")
"""The models whose formats this decoder reads (by name or company id; see above)."""
_GENERIC_ID = 0x0001
_H5179_ID = 0x8801
_APPLE_ID = 0x004C  # iBeacon frames Govee devices send too
_INTELLI_ROCKS = b"INTELLI_ROCKS"  # an iBeacon frame glued to the data by some stacks
_GLUED_IBEACON = 25
_NAME = re.compile(r"^(?:GVH|GV|Govee_H)(5\d{3})")
_MEAT_UUIDS = {uuid16(0x8151): "H5181", uuid16(0x8251): "H5182", uuid16(0x8351): "H5183",
               uuid16(0x8451): "H5184", uuid16(0x8551): "H5185", uuid16(0x9851): "H5198"}
_MIN_C, _MAX_C = -40.0, 100.0  # outside: a corrupt packet, not a reading

Values = tuple[Measurement, ...]


def govee_model(advert: Advert) -> str | None:
    """The model the advertised name or service UUIDs give (``"H5075"``), or ``None``."""
    match = _NAME.match(advert.name or "")
    if match:
        return f"H{match[1]}"
    return next((m for u, m in _MEAT_UUIDS.items() if u in advert.service_uuids), None)


def matches_govee(advert: Advert) -> bool:
    """Govee's own company id, H5179's, or another id when name/UUIDs say Govee."""
    ids = advert.manufacturer_data.keys()
    return GOVEE_COMPANY_ID in ids or _H5179_ID in ids or (
        bool(ids - {_APPLE_ID}) and govee_model(advert) is not None)


def identify_govee(advert: Advert) -> Identity | None:
    if not matches_govee(advert):
        return None
    return Identity("Govee", govee_model(advert) or _model_by_id(advert))


def _model_by_id(advert: Advert) -> str:
    """Without a name: the model the company id and data length point to."""
    if _H5179_ID in advert.manufacturer_data:
        return "H5179"
    length = len(_strip_glued(advert.manufacturer_data.get(GOVEE_COMPANY_ID, b"")))
    return {7: "H5074", 9: "H5051/H5052/H5071"}.get(length, "H5072/H5075")


# --- value helpers --------------------------------------------------------------------------


def _m(name: str, value: float, unit: str | None = None) -> Measurement:
    return Measurement(name, float(value), unit)


def _packed(raw: bytes) -> tuple[float, float]:
    """Temperature and humidity from the 3-byte packed form."""
    number = int.from_bytes(raw, "big")
    magnitude = number & 0x7FFFFF
    temperature = magnitude // 1000 / 10
    return (-temperature if number & 0x800000 else temperature), magnitude % 1000 / 10


def _temp_hum(temperature: float, humidity: float, warnings: list[str]) -> Values:
    if not _MIN_C <= temperature <= _MAX_C or humidity > 100:
        warnings.append(f"implausible reading ({temperature} °C, {humidity} %) dropped")
        return ()
    return _m("temperature", temperature, "°C"), _m("humidity", humidity, "%")


def _battery_and_th(raw: bytes, battery: int, warnings: list[str]) -> Values:
    """Packed temperature/humidity plus a battery byte whose bit 7 flags a sensor error."""
    values: Values = ()
    if battery & 0x80:
        warnings.append("the sensor reports an error: temperature/humidity dropped")
    else:
        values = _temp_hum(*_packed(raw), warnings)
    return (*values, _m("battery", battery & 0x7F, "%"))


def _le_th_battery(raw: bytes, warnings: list[str]) -> Values:
    """int16 LE temperature (0.01 °C), uint16 LE humidity (0.01 %), battery byte."""
    temperature = int.from_bytes(raw[:2], "little", signed=True) / 100
    humidity = int.from_bytes(raw[2:4], "little") / 100
    return (*_temp_hum(temperature, humidity, warnings), _m("battery", raw[4], "%"))


def _pm25_monitor(raw: bytes, warnings: list[str]) -> Values:
    """H5106: one uint32 BE = temperature*10^6 + humidity*10^3 + PM2.5, bit 31 the sign."""
    number = int.from_bytes(raw, "big")
    magnitude = number & 0x7FFFFFFF
    temperature = magnitude // 1_000_000 / 10
    temperature = -temperature if number & 0x80000000 else temperature
    humidity = magnitude % 1_000_000 // 1000 / 10
    return (*_temp_hum(temperature, humidity, warnings),
            _m("pm25", magnitude % 1000, "µg/m³"))


def _co2_monitor(raw: bytes, warnings: list[str]) -> Values:
    """H5140: packed temperature/humidity, CO2 uint16 BE, error byte."""
    if raw[5]:
        warnings.append("the sensor reports an error: readings dropped")
        return ()
    return (*_temp_hum(*_packed(raw[:3]), warnings),
            _m("co2", int.from_bytes(raw[3:5], "big"), "ppm"))


# --- meat thermometers ----------------------------------------------------------------------


def _probe(raw: bytes, number: int) -> Values:
    value = int.from_bytes(raw, "big", signed=True)
    return () if value == -1 else (_m(f"temperature_{number}", value / 100, "°C"),)


_PROBES: dict[str, tuple[int, tuple[int, ...]]] = {
    # model: (data length, offsets of the probe values)
    "H5181": (14, (8,)),
    "H5183": (14, (8,)),
    "H5182": (17, (8, 13)),
    "H5184": (17, (8, 13)),
    "H5185": (20, (8, 14)),
    "H5198": (20, (8, 14)),
}
_FOUR_PROBES = frozenset({"H5184", "H5198"})


def _probe_numbers(model: str, data: bytes) -> tuple[int, ...]:
    """Which probes a packet carries: four-probe models send two a packet, byte 6 (low six
    bits) says which: 1 -> probes 1 and 2, 2 -> probes 3 and 4."""
    if model not in _FOUR_PROBES:
        return tuple(range(1, len(_PROBES[model][1]) + 1))
    group = data[6] & 0x3F
    if group not in (1, 2):
        raise DecodeError(f"Govee {model}: unknown probe group 0x{data[6]:02x}")
    return (1, 2) if group == 1 else (3, 4)


def _meat(model: str, data: bytes) -> Values:
    length, offsets = _PROBES[model]
    if len(data) != length:
        raise DecodeError(f"Govee {model} data of {len(data)} bytes, expected {length}")
    numbers = _probe_numbers(model, data)
    return tuple(v for off, n in zip(offsets, numbers, strict=True)
                 for v in _probe(data[off:off + 2], n))


# --- dispatch -------------------------------------------------------------------------------


def _strip_glued(payload: bytes) -> bytes:
    if len(payload) > _GLUED_IBEACON and _INTELLI_ROCKS in payload:
        return payload[:-_GLUED_IBEACON]
    return payload


def _pick(data: Mapping[int, bytes]) -> tuple[int, bytes]:
    """The entry to decode: Govee's own ids first, else the last non-Apple one."""
    for company in (GOVEE_COMPANY_ID, _H5179_ID, _GENERIC_ID):
        if company in data:
            return company, _strip_glued(data[company])
    others = [(c, p) for c, p in data.items() if c != _APPLE_ID]
    if not others:
        raise DecodeError("the advert has no Govee manufacturer data", kind="unsupported")
    company, payload = others[-1]
    return company, _strip_glued(payload)


def _decode_ec88(payload: bytes, warnings: list[str]) -> Values:
    if len(payload) == 6:
        return _battery_and_th(payload[1:4], payload[4], warnings)
    if len(payload) in (7, 9):
        return _le_th_battery(payload[1:6], warnings)
    raise DecodeError(f"Govee 0xEC88 data of {len(payload)} bytes: not a thermometer packet",
                      kind="unsupported")


def _decode_generic(model: str | None, payload: bytes, warnings: list[str]) -> Values:
    if len(payload) == 6 and model == "H5106":
        return _pm25_monitor(payload[2:6], warnings)
    if len(payload) == 8 and model == "H5140":
        return _co2_monitor(payload[2:8], warnings)
    if len(payload) in (6, 8) and model not in ("H5112", "H5178"):
        return _battery_and_th(payload[2:5], payload[5], warnings)
    raise DecodeError(f"Govee {model or '0x0001'} data of {len(payload)} bytes is not "
                      "supported", kind="unsupported")


def _values(advert: Advert, warnings: list[str]) -> Values:
    model = govee_model(advert)
    company, payload = _pick(advert.manufacturer_data)
    if company == GOVEE_COMPANY_ID:
        return _decode_ec88(payload, warnings)
    if company == _H5179_ID:
        if len(payload) != 9:
            raise DecodeError(f"Govee H5179 data of {len(payload)} bytes, expected 9")
        return _le_th_battery(payload[4:9], warnings)
    if company == _GENERIC_ID and model not in _PROBES:
        return _decode_generic(model, payload, warnings)
    if model in _PROBES:
        return _meat(model, payload)
    raise DecodeError(f"Govee company id 0x{company:04x} is not supported", kind="unsupported")


def decode_govee(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's Govee manufacturer data (``bindkey`` unused: plain formats)."""
    del bindkey
    if not matches_govee(advert):
        raise DecodeError("the advert has no Govee manufacturer data", kind="unsupported")
    warnings: list[str] = []
    measurements = _values(advert, warnings)
    identity = identify_govee(advert)
    return Decoded(
        decoder="govee",
        measurements=measurements,
        model=None if identity is None else identity.model,
        manufacturer="Govee",
        warnings=tuple(warnings),
    )


def encode_govee_h5075(measurements: Iterable[Measurement]) -> bytes:
    """H5072/H5075 manufacturer data (company 0xEC88) from temperature, humidity, battery."""
    units = {"temperature": "°C", "humidity": "%", "battery": "%"}
    values = {m.name: m.value for m in measurements if units.get(m.name) == m.unit}
    if values.keys() != units.keys():
        raise ValueError(f"H5075 adverts carry exactly {sorted(units)}")
    temperature, humidity = values["temperature"], values["humidity"]
    if not -800 < temperature < 800 or not 0 <= humidity < 100 or not 0 <= values[
            "battery"] <= 100:
        raise ValueError(f"cannot encode {values} as an H5075 advert")
    packed = round(abs(temperature) * 10) * 1000 + round(humidity * 10)
    packed |= 0x800000 if temperature < 0 else 0
    return b"\x00" + packed.to_bytes(3, "big") + bytes([round(values["battery"]), 0])
