"""IIO channels as the kernel names them in sysfs, and what they become here (pure functions).

From ``Documentation/ABI/testing/sysfs-bus-iio``: a channel's value is ``in_<spec>_input``
(already in the ABI unit), else ``in_<spec>_raw`` with optional ``in_<spec>_offset`` and
``in_<spec>_scale`` (each may instead be shared by the channel type, ``in_<type>_scale``):
value = (raw + offset) x scale. ``<spec>`` is ``<type>[<index>][_<modifier>]`` or a
differential pair ``<type><i>-<type><j>``. After scale and offset the ABI's units are: temp
milli °C, humidityrelative milli %, pressure kPa, voltage mV, current mA, power mW, illuminance
lux, concentration percent, massconcentration µg/m³, resistance Ω, capacitance nF, accel m/s²,
anglvel rad/s, magn gauss; uvindex, intensity and proximity have no unit.

Some sensors the Pi's ``i2c-sensor`` overlay offers have a hwmon driver instead (SHT3x, SHT4x,
AHT10/AHT20, TMP102, LM75, DS1621...). Their channels follow ``Documentation/hwmon/
sysfs-interface.rst``: ``temp<N>_input`` milli °C, ``humidity<N>_input`` milli %, ``in<N>_input``
mV, ``curr<N>_input`` mA, ``power<N>_input`` µW (:func:`hwmon_channels_of`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.sdk import DecodeError

__all__ = ["HWMON_TYPES", "TYPES", "Channel", "ChannelType", "channels_of",
           "hwmon_channels_of", "parse_number", "spec_of"]


@dataclass(frozen=True, slots=True)
class ChannelType:
    """An IIO channel type: the gateway's kind name, the unit published, the factor from the
    ABI's unit to it."""

    kind: str
    unit: str | None
    factor: float = 1.0


TYPES: dict[str, ChannelType] = {
    "temp": ChannelType("temperature", "°C", 1e-3),
    "humidityrelative": ChannelType("humidity", "%", 1e-3),
    "pressure": ChannelType("pressure", "hPa", 10.0),
    "illuminance": ChannelType("illuminance", "lx"),
    "voltage": ChannelType("voltage", "V", 1e-3),
    "current": ChannelType("current", "A", 1e-3),
    "power": ChannelType("power", "W", 1e-3),
    "concentration": ChannelType("concentration", "ppm", 1e4),  # percent -> ppm
    "massconcentration": ChannelType("pm", "µg/m³"),
    "resistance": ChannelType("resistance", "Ω"),
    "capacitance": ChannelType("capacitance", "nF"),
    "uvindex": ChannelType("uv_index", None),
    "intensity": ChannelType("intensity", None),
    "proximity": ChannelType("proximity", None),
    "accel": ChannelType("acceleration", "m/s²"),
    "anglvel": ChannelType("angular_velocity", "rad/s"),
    "magn": ChannelType("magnetic_field", "G"),
}
HWMON_TYPES: dict[str, ChannelType] = {
    "temp": ChannelType("temperature", "°C", 1e-3),
    "humidity": ChannelType("humidity", "%", 1e-3),
    "in": ChannelType("voltage", "V", 1e-3),
    "curr": ChannelType("current", "A", 1e-3),
    "power": ChannelType("power", "W", 1e-6),
}
_HWMON_FILE = re.compile(r"(temp|humidity|in|curr|power)([0-9]+)_input", re.ASCII)
# concentration_<gas> and massconcentration_<size> are named after the modifier.
_MODIFIER_NAMES = {"co2": "co2", "voc": "voc", "ethanol": "ethanol", "h2": "h2", "o2": "o2",
                   "pm1": "pm1", "pm2p5": "pm2_5", "pm4": "pm4", "pm10": "pm10"}
_NAMED_BY_MODIFIER = frozenset({"concentration", "massconcentration"})

_FILE = re.compile(r"in_(?P<spec>.+)_(?P<info>input|raw)", re.ASCII)
_SPEC = re.compile(
    r"(?P<type>[a-z]+?)(?P<index>[0-9]+)?(?:_(?P<mod>[a-z0-9_]+))?"
    r"(?:-(?P<type2>[a-z]+?)(?P<index2>[0-9]+)?)?", re.ASCII)
_STATISTICS = ("_peak", "_trough", "_mean")  # not readings of the channel itself
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Channel:
    """One readable channel of an IIO device."""

    spec: str  # as in the file names: "temp", "voltage0", "concentration_co2"...
    type: str
    name: str  # the sensor name published: "temperature", "voltage0", "co2"...
    kind: str  # the gateway kind: "temperature", "voltage", "co2"...
    unit: str | None
    factor: float
    processed: bool  # in_<spec>_input exists (else _raw, _offset, _scale)
    hwmon: bool = False  # a hwmon channel: <spec>_input

    def value_file(self) -> str:
        if self.hwmon:
            return f"{self.spec}_input"
        return f"in_{self.spec}_{'input' if self.processed else 'raw'}"

    def scale_files(self, what: str) -> list[str]:
        """Where ``what`` (``scale`` or ``offset``) may be: the channel's own, else shared."""
        match = _SPEC.fullmatch(self.spec)
        assert match is not None
        shared = [f"in_{self.type}-{match['type2']}_{what}"] if match["type2"] else []
        return [f"in_{self.spec}_{what}", *shared, f"in_{self.type}_{what}"]

    def value(self, reading: str, offset: str | None, scale: str | None) -> float:
        """The published value from the files' texts (raises DecodeError)."""
        number = parse_number(reading)
        if not self.processed:
            number = (number + (parse_number(offset) if offset else 0.0)) * (
                parse_number(scale) if scale else 1.0)
        return round(number * self.factor, 6)


def parse_number(text: str) -> float:
    body = text.strip()
    if not body:
        raise DecodeError("empty read", kind="empty")
    if not _NUMBER.fullmatch(body):
        raise DecodeError("not a number", kind="unparsable")
    return float(body)


def channels_of(files: list[str]) -> list[Channel]:
    """The channels among a device directory's file names, sorted by name."""
    specs: dict[str, bool] = {}
    for file in files:
        match = _FILE.fullmatch(file)
        if match is None or match["spec"].endswith(_STATISTICS):
            continue
        specs[match["spec"]] = specs.get(match["spec"], False) or match["info"] == "input"
    found = (_channel(spec, processed) for spec, processed in specs.items())
    return sorted((c for c in found if c is not None), key=lambda c: c.name)


def hwmon_channels_of(files: list[str]) -> list[Channel]:
    """The channels of a hwmon device's file names: ``temperature`` and ``humidity`` for an
    SHT3x (the index only where a type has several: ``temperature1``, ``temperature2``)."""
    found = [m for m in (_HWMON_FILE.fullmatch(f) for f in files) if m]
    counts = {t: sum(1 for m in found if m[1] == t) for t in HWMON_TYPES}
    channels = []
    for match in found:
        kind_of = HWMON_TYPES[match[1]]
        name = kind_of.kind + (match[2] if counts[match[1]] > 1 else "")
        channels.append(Channel(f"{match[1]}{match[2]}", match[1], name, kind_of.kind,
                                kind_of.unit, kind_of.factor, True, hwmon=True))
    return sorted(channels, key=lambda c: c.name)


def _channel(spec: str, processed: bool) -> Channel | None:
    match = _SPEC.fullmatch(spec)
    if match is None:
        return None
    kind_of = TYPES.get(match["type"])
    if kind_of is None:  # a type this table does not know: its raw number, named as the kernel does
        return Channel(spec, match["type"], spec, spec, None, 1.0, processed)
    return Channel(spec, match["type"], _name(match, kind_of), _kind(match, kind_of),
                   kind_of.unit, kind_of.factor, processed)


def _kind(match: re.Match[str], kind_of: ChannelType) -> str:
    if match["type"] in _NAMED_BY_MODIFIER and match["mod"]:
        return _MODIFIER_NAMES.get(match["mod"], match["mod"])
    return kind_of.kind


def _name(match: re.Match[str], kind_of: ChannelType) -> str:
    """``voltage0``, ``temperature_object``, ``co2``, ``voltage0_voltage1``..."""
    name = kind = _kind(match, kind_of)
    if match["index"]:
        name += f"_{match['index']}" if kind[-1].isdigit() else match["index"]  # co2_1, voltage0
    if match["mod"] and match["type"] not in _NAMED_BY_MODIFIER:
        name += f"_{match['mod']}"
    if match["type2"]:
        other = TYPES.get(match["type2"], ChannelType(match["type2"], None)).kind
        name += f"_{other}{match['index2'] or ''}"
    return name


def spec_of(name: str) -> tuple[str, str | None]:
    """(kind, unit) of a sensor named as :func:`channels_of` names channels (``voltage0``,
    ``temperature_object``, ``co2``, ``pm2_5``...); an unknown name is its own kind, no unit."""
    for modifier in _MODIFIER_NAMES.values():
        if name == modifier or name.startswith(f"{modifier}_"):
            unit = TYPES["massconcentration" if modifier.startswith("pm") else "concentration"]
            return modifier, unit.unit
    for kind_of in sorted(TYPES.values(), key=lambda t: -len(t.kind)):
        if re.fullmatch(rf"{kind_of.kind}(?:[0-9]+)?(?:_[a-z0-9_]+)?", name):
            return kind_of.kind, kind_of.unit
    return name, None
