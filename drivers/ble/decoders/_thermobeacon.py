"""ThermoBeacon (Brifit, Oria, Thermoplus) hygrometers: manufacturer data, service 0xFFF0.

The company id's low byte is the device type (0x10 lanyard/mini, 0x11... smart
hygrometers). An 18-byte data packet (ble_monitor's ThermoBeacon pages, thermobeacon-ble's
test table): 1 byte, flags (bit 7: button pressed), MAC (6, reversed), battery voltage
uint16 LE (mV), temperature int16 LE (1/16 °C), humidity uint16 LE (1/16 %), uptime uint32
LE (s). 20-byte packets carry min/max history and no current reading.
"""

from __future__ import annotations

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, format_mac, uuid16

__all__ = ["decode_thermobeacon", "identify_thermobeacon", "matches_thermobeacon"]

THERMOBEACON_UUID = uuid16(0xFFF0)
_DATA = 18
_HISTORY = 20
MODELS = {0x10: "Lanyard/Mini Hygrometer", 0x11: "Smart Hygrometer",
           0x14: "Smart Hygrometer", 0x15: "Smart Hygrometer", 0x18: "Smart Hygrometer",
           0x1B: "Smart Hygrometer", 0x30: "Smart Hygrometer"}


def _entry(advert: Advert) -> tuple[int, bytes] | None:
    entries = [(c, p) for c, p in advert.manufacturer_data.items()
               if c in MODELS and len(p) in (_DATA, _HISTORY)]
    return entries[-1] if entries else None


def matches_thermobeacon(advert: Advert) -> bool:
    return THERMOBEACON_UUID in advert.service_uuids and _entry(advert) is not None


def identify_thermobeacon(advert: Advert) -> Identity | None:
    entry = _entry(advert) if THERMOBEACON_UUID in advert.service_uuids else None
    return None if entry is None else Identity("ThermoBeacon", MODELS[entry[0]])


def _readings(data: bytes) -> tuple[Measurement, ...]:
    millivolts = int.from_bytes(data[8:10], "little")
    temperature = int.from_bytes(data[10:12], "little", signed=True) / 16
    humidity = int.from_bytes(data[12:14], "little") / 16
    if temperature > 100 or humidity > 100:
        raise DecodeError(f"ThermoBeacon reading {temperature} °C, {humidity} %: corrupt")
    return (Measurement("temperature", temperature, "°C"),
            Measurement("humidity", humidity, "%"),
            Measurement("voltage", millivolts / 1000, "V"))


def decode_thermobeacon(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode a ThermoBeacon advert (plain format)."""
    del bindkey
    entry = _entry(advert)
    if entry is None or THERMOBEACON_UUID not in advert.service_uuids:
        raise DecodeError("not a ThermoBeacon advert", kind="unsupported")
    company, data = entry
    return Decoded(
        decoder="thermobeacon",
        measurements=_readings(data) if len(data) == _DATA else (),
        model=MODELS[company],
        manufacturer="ThermoBeacon",
        mac=format_mac(data[2:8][::-1]),
    )
