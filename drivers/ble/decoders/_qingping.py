"""Qingping (ClearGrass) service data, UUID 0xFDCD.

Layout (as ble_monitor's Qingping page and the Qingping parsers' test tables describe it):
a flags byte (bit 6: an event packet), the product id, the MAC (6 bytes, reversed), then
TLV records: id (1), length (1), value (little-endian):

* 0x01 temperature int16 (0.1 °C) + humidity uint16 (0.1 %), 4 bytes
* 0x02 battery % (0xFF: mains powered, no battery level), 1 byte
* 0x04 door: 0 open, 1 closed, 2 left open, 1 byte
* 0x07 pressure uint16 (0.1 hPa), 2 bytes
* 0x08 motion uint8 + illuminance uint24 (lux; not valid in event packets), 4 bytes
* 0x09 illuminance uint32 (lux), 4 bytes
* 0x0F packet id, 1 byte
* 0x11 light (0 dark, 1 light), 1 byte
* 0x12 PM2.5 + PM10 uint16 each (µg/m³), 4 bytes
* 0x13 CO2 uint16 (ppm), 2 bytes

Records with other ids are skipped (with a warning); a known id with another length, or a
record running past the data, is a decode error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, format_mac, parse_mac, payload_of, uuid16

__all__ = ["QINGPING_UUID", "decode_qingping", "encode_qingping", "identify_qingping"]

QINGPING_UUID = uuid16(0xFDCD)
"""Service data UUID of Qingping's own advertisement format."""

_EVENT = 0x40
_HEADER = 8  # flags, product id, MAC
_PACKET_ID = 0x0F
_NO_BATTERY = 0xFF

MODELS: dict[int, str] = {
    0x01: "CGG1", 0x04: "CGH1", 0x07: "CGG1", 0x09: "CGP1W", 0x0C: "CGD1", 0x0E: "CGDN1",
    0x0F: "CGM1", 0x10: "CGDK2", 0x12: "CGPR1", 0x15: "CGF1W", 0x16: "CGG1-M",
    0x18: "CGP23W", 0x1E: "CGC1", 0x24: "CGDN1", 0x26: "CGP23W", 0x33: "CGP22C",
    0x4F: "CGG3", 0x52: "CGR1PC", 0x5D: "CGP22C", 0x62: "CGR1PC",
}
"""Qingping product ids -> models (another id still decodes, as "Qingping 0x..")."""

Reader = Callable[[bytes, bool], tuple[Measurement, ...]]


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _m(name: str, value: float, unit: str | None = None) -> Measurement:
    return Measurement(name, float(value), unit)


def _temp_humidity(raw: bytes, event: bool) -> tuple[Measurement, ...]:
    del event
    return (_m("temperature", int.from_bytes(raw[:2], "little", signed=True) / 10, "°C"),
            _m("humidity", _le(raw[2:]) / 10, "%"))


def _battery(raw: bytes, event: bool) -> tuple[Measurement, ...]:
    del event
    return () if raw[0] == _NO_BATTERY else (_m("battery", raw[0], "%"),)


def _door(raw: bytes, event: bool) -> tuple[Measurement, ...]:
    del event
    return () if raw[0] > 2 else (_m("opening", raw[0] != 1),)


def _motion_light(raw: bytes, event: bool) -> tuple[Measurement, ...]:
    motion = _m("motion", raw[0] != 0)
    return (motion,) if event else (motion, _m("illuminance", _le(raw[1:]), "lx"))


def _pm(raw: bytes, event: bool) -> tuple[Measurement, ...]:
    del event
    return _m("pm25", _le(raw[:2]), "µg/m³"), _m("pm10", _le(raw[2:]), "µg/m³")


def _one(name: str, unit: str | None, den: int = 1) -> Reader:
    return lambda raw, event: (_m(name, _le(raw) / den, unit),)


@dataclass(frozen=True, slots=True)
class _Record:
    size: int
    read: Reader


_RECORDS: dict[int, _Record] = {
    0x01: _Record(4, _temp_humidity),
    0x02: _Record(1, _battery),
    0x04: _Record(1, _door),
    0x07: _Record(2, _one("pressure", "hPa", 10)),
    0x08: _Record(4, _motion_light),
    0x09: _Record(4, _one("illuminance", "lx")),
    0x11: _Record(1, lambda raw, event: (_m("light", raw[0] != 0),)),
    0x12: _Record(4, _pm),
    0x13: _Record(2, _one("co2", "ppm")),
}


def qingping_identity(product_id: int) -> Identity:
    return Identity("Qingping", MODELS.get(product_id, f"Qingping 0x{product_id:02X}"))


def identify_qingping(advert: Advert) -> Identity | None:
    data = advert.service_data.get(QINGPING_UUID, b"")
    return qingping_identity(data[1]) if len(data) >= _HEADER else None


def decode_qingping(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's 0xFDCD service data (``bindkey`` unused: the format is plain)."""
    del bindkey
    data = payload_of(advert.service_data, QINGPING_UUID, "Qingping service data (0xFDCD)")
    if len(data) < _HEADER:
        raise DecodeError(f"Qingping service data of {len(data)} bytes is shorter than its "
                          "header")
    identity = qingping_identity(data[1])
    measurements, packet_id, warnings = _parse_records(data[_HEADER:], bool(data[0] & _EVENT))
    return Decoded(
        decoder="qingping",
        measurements=measurements,
        model=identity.model,
        manufacturer=identity.manufacturer,
        packet_id=packet_id,
        mac=format_mac(data[2:8][::-1]),
        warnings=warnings,
    )


def _parse_records(
    body: bytes, event: bool
) -> tuple[tuple[Measurement, ...], int | None, tuple[str, ...]]:
    values: list[Measurement] = []
    warnings: list[str] = []
    packet_id: int | None = None
    pos = 0
    while pos < len(body):
        if pos + 2 > len(body):
            raise DecodeError(f"truncated Qingping record header at byte {pos}")
        rec_id, end = body[pos], pos + 2 + body[pos + 1]
        if end > len(body):
            raise DecodeError(f"Qingping record 0x{rec_id:02x} runs past the data")
        value, pos = body[pos + 2:end], end
        if rec_id == _PACKET_ID and len(value) == 1:
            packet_id = value[0]
            continue
        values.extend(_read_record(rec_id, value, event, warnings))
    return tuple(values), packet_id, tuple(warnings)


def _read_record(
    rec_id: int, value: bytes, event: bool, warnings: list[str]
) -> tuple[Measurement, ...]:
    record = _RECORDS.get(rec_id)
    if record is None:
        warnings.append(f"unknown Qingping record 0x{rec_id:02x} skipped")
        return ()
    if len(value) != record.size:
        raise DecodeError(f"Qingping record 0x{rec_id:02x} has {len(value)} bytes, "
                          f"expected {record.size}")
    return record.read(value, event)


def encode_qingping(
    measurements: Iterable[Measurement], *, mac: str, product_id: int = 0x07,
    packet_id: int | None = None,
) -> bytes:
    """0xFDCD service data from temperature + humidity (both needed), battery, pressure
    (for simulators and tests). ``ValueError`` for anything else or values out of range."""
    by_name = {(m.name, m.unit): m.value for m in measurements}
    records = b""
    try:
        temperature, humidity = by_name.pop(("temperature", "°C")), by_name.pop(("humidity", "%"))
    except KeyError:
        raise ValueError("Qingping adverts carry temperature (°C) and humidity (%) "
                         "together") from None
    try:
        records += b"\x01\x04" + round(temperature * 10).to_bytes(2, "little", signed=True)
        records += round(humidity * 10).to_bytes(2, "little")
        if ("battery", "%") in by_name:
            records += b"\x02\x01" + bytes([round(by_name.pop(("battery", "%")))])
        if ("pressure", "hPa") in by_name:
            records += b"\x07\x02" + round(by_name.pop(("pressure", "hPa")) * 10).to_bytes(
                2, "little")
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"value out of range for a Qingping advert: {exc}") from exc
    if by_name:
        raise ValueError(f"no Qingping record for {sorted(by_name)}")
    if packet_id is not None:
        records += b"\x0f\x01" + bytes([packet_id & 0xFF])
    return bytes([0x08, product_id]) + parse_mac(mac)[::-1] + records
