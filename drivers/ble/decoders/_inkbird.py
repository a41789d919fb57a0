"""Inkbird hygrometers and thermometers: data in the manufacturer-data field itself.

These devices put their readings where a company id belongs: the "company id" bleak
reports holds the first two bytes of the data, so a reading changes the id. They are told
apart by the advertised name (Inkbird's parsers' tables; ble_monitor's Inkbird pages):

* ``sps`` (IBS-TH1) and ``tps`` (IBS-TH2, IBS-P01B), 9 bytes: temperature int16 LE
  (0.01 °C), humidity uint16 LE (0.01 %; 0 or 0xFFFF on models without humidity), probe
  byte, 2 bytes of checksum, battery %, 1 byte.
* ``ITH-11-B``, ``ITH-13-B``, ``ITH-21-B``, ``IBS-P02B``, 18 bytes: 6 header bytes,
  temperature int16 LE (0.1 °C), humidity uint16 LE (0.1 %; 0 without a humidity sensor,
  0xFFFF in a corrupt packet),
  battery %, then reserved bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity

__all__ = ["decode_inkbird", "identify_inkbird", "matches_inkbird"]


@dataclass(frozen=True, slots=True)
class _Model:
    model: str
    length: int  # with the two bytes in the company id
    offset: int  # where temperature, humidity start
    den: int  # 100: 0.01 units, 10: 0.1 units
    battery_at: int
    no_humidity: frozenset[int]  # humidity values that mean "no humidity sensor"


def _short(model: str) -> _Model:
    """A 9-byte model; humidity 0 or 0xFFFF means it has no humidity sensor."""
    return _Model(model, 9, 0, 100, 7, frozenset({0, 0xFFFF}))


def _long(model: str) -> _Model:
    """An 18-byte model; humidity 0 means none, 0xFFFF is a corrupt packet."""
    return _Model(model, 18, 6, 10, 10, frozenset({0}))


MODELS: dict[str, _Model] = {
    "sps": _short("IBS-TH"),
    "tps": _short("IBS-TH2/P01B"),
    "ith-11-b": _long("ITH-11-B"),
    "ith-13-b": _long("ITH-13-B"),
    "ith-21-b": _long("ITH-21-B"),
    "ibs-p02b": _long("IBS-P02B"),
}


def _model(advert: Advert) -> _Model | None:
    return MODELS.get((advert.name or "").strip().lower())


def matches_inkbird(advert: Advert) -> bool:
    return bool(advert.manufacturer_data) and _model(advert) is not None


def identify_inkbird(advert: Advert) -> Identity | None:
    model = _model(advert)
    return None if model is None else Identity("Inkbird", model.model)


def _data(advert: Advert, model: _Model) -> bytes:
    """The (last) entry of the model's length, its two id bytes put back in front."""
    entries = [c.to_bytes(2, "little") + p for c, p in advert.manufacturer_data.items()
               if len(p) + 2 == model.length]
    if not entries:
        lengths = sorted(len(p) + 2 for p in advert.manufacturer_data.values())
        raise DecodeError(f"Inkbird {model.model} data of {lengths} bytes, "
                          f"expected {model.length}")
    return entries[-1]


def _readings(model: _Model, data: bytes) -> tuple[Measurement, ...]:
    at = model.offset
    temperature = int.from_bytes(data[at:at + 2], "little", signed=True) / model.den
    raw_humidity = int.from_bytes(data[at + 2:at + 4], "little")
    battery = data[model.battery_at]
    if battery > 100:
        raise DecodeError(f"Inkbird battery {battery} % > 100: a corrupt packet")
    values = [Measurement("temperature", temperature, "°C")]
    if raw_humidity not in model.no_humidity:
        humidity = raw_humidity / model.den
        if humidity > 100:
            raise DecodeError(f"Inkbird humidity {humidity} % > 100: a corrupt packet")
        values.append(Measurement("humidity", humidity, "%"))
    values.append(Measurement("battery", float(battery), "%"))
    return tuple(values)


def decode_inkbird(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode an Inkbird advert (plain format; the name picks the layout)."""
    del bindkey
    model = _model(advert)
    if model is None or not advert.manufacturer_data:
        raise DecodeError("not an Inkbird advert (name and manufacturer data)",
                          kind="unsupported")
    return Decoded(
        decoder="inkbird",
        measurements=_readings(model, _data(advert, model)),
        model=model.model,
        manufacturer="Inkbird",
    )
