"""SwitchBot thermo-hygrometers: service data 0xFD3D (older firmware 0x0D00) and
manufacturer data of company 0x0969 (Woan Technology).

From SwitchBot's BLE open API (OpenWonderLabs/SwitchBotAPI-BLE, devicetypes/meter.md):
service data byte 0 bits 6-0 are the device type ('T' Meter, 'i' Meter Plus, 'w' Outdoor
Meter, 'v' Hub 2...), byte 2 bits 6-0 the battery %. A temperature/humidity triple is
``decimals (bits 3-0) | sign (bit 7: 1 above zero) + whole degrees (bits 6-0) | humidity %
(bits 6-0; bit 7 the display scale)``; it sits in service data bytes 3-5 on older meters
and in the manufacturer data (after the 6-byte MAC) at bytes 8-10 on current firmware and
the Outdoor Meter (the API's Outdoor sensor section), at bytes 13-15 on the Hub 2 (with
the light level, 1-21, in bits 4-0 of byte 12). The Meter Pro CO2 adds CO2 (uint16 BE,
ppm) at manufacturer bytes 13-14. The layouts past the vendor's document come from the
pySwitchbot test tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, uuid16

__all__ = ["SWITCHBOT_COMPANY_ID", "SWITCHBOT_UUIDS", "decode_switchbot", "identify_switchbot"]

SWITCHBOT_COMPANY_ID = 0x0969
SWITCHBOT_UUIDS = (uuid16(0xFD3D), uuid16(0x0D00))
"""Service data UUIDs: current, and older firmware's."""


@dataclass(frozen=True, slots=True)
class _Model:
    name: str
    th_offset: int  # where the temperature/humidity triple sits in manufacturer data
    has_battery: bool = True
    co2: bool = False
    light: bool = False
    in_service_data: bool = True  # older firmware: the triple in service data bytes 3-5


MODELS: dict[int, _Model] = {
    ord("T"): _Model("Meter", 8),
    ord("i"): _Model("Meter Plus", 8),
    ord("w"): _Model("Outdoor Meter", 8),
    ord("4"): _Model("Meter Pro", 8),
    0x14: _Model("Meter Pro", 8),
    ord("5"): _Model("Meter Pro CO2", 8, co2=True),
    0x15: _Model("Meter Pro CO2", 8, co2=True),
    ord("v"): _Model("Hub 2", 13, has_battery=False, light=True, in_service_data=False),
}
"""Device types (service data byte 0, bit 7 cleared) of the thermometers."""


def _service_data(advert: Advert) -> bytes | None:
    return next((advert.service_data[u] for u in SWITCHBOT_UUIDS if u in advert.service_data),
                None)


def matches_switchbot(advert: Advert) -> bool:
    return _service_data(advert) is not None


def _model(advert: Advert) -> _Model | None:
    data = _service_data(advert)
    return MODELS.get(data[0] & 0x7F) if data else None


def identify_switchbot(advert: Advert) -> Identity | None:
    model = _model(advert)
    return None if model is None else Identity("SwitchBot", model.name)


def _temperature_humidity(raw: bytes) -> tuple[Measurement, ...]:
    whole, tenths = raw[1] & 0x7F, raw[0] & 0x0F
    if tenths > 9:
        raise DecodeError(f"SwitchBot temperature decimals {tenths} > 9")
    temperature = (whole * 10 + tenths) / 10 * (1 if raw[1] & 0x80 else -1)
    humidity = raw[2] & 0x7F
    if humidity > 100:
        raise DecodeError(f"SwitchBot humidity {humidity} % > 100")
    if temperature == 0 and humidity == 0:  # the device has not measured yet
        return ()
    return (Measurement("temperature", temperature, "°C"),
            Measurement("humidity", float(humidity), "%"))


def _readings(model: _Model, service: bytes, mfr: bytes | None) -> tuple[Measurement, ...]:
    values: list[Measurement] = []
    end = model.th_offset + 3
    if mfr is not None and len(mfr) >= end:
        values += _temperature_humidity(mfr[model.th_offset:end])
        if model.light:
            values.append(Measurement("light_level", float(mfr[12] & 0x1F), None))
        if model.co2 and len(mfr) >= 15:
            values.append(Measurement("co2", float(int.from_bytes(mfr[13:15], "big")), "ppm"))
    elif model.in_service_data and len(service) >= 6:
        values += _temperature_humidity(service[3:6])
    if model.has_battery and len(service) >= 3:
        values.append(Measurement("battery", float(service[2] & 0x7F), "%"))
    return tuple(values)


def decode_switchbot(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode a SwitchBot thermometer's service and manufacturer data (plain formats)."""
    del bindkey
    service = _service_data(advert)
    if not service:
        raise DecodeError("the advert has no SwitchBot service data", kind="unsupported")
    model = MODELS.get(service[0] & 0x7F)
    if model is None:
        raise DecodeError(f"SwitchBot device type 0x{service[0] & 0x7F:02x} is not a "
                          "thermometer", kind="unsupported")
    mfr = advert.manufacturer_data.get(SWITCHBOT_COMPANY_ID)
    return Decoded(
        decoder="switchbot",
        measurements=_readings(model, service, mfr),
        model=model.name,
        manufacturer="SwitchBot",
    )
