"""Home Assistant's view of every built-in sensor kind: platform, device class, unit, state class.

Pure tables. A sensor's *kind* is what its driver says (``SensorSpec.kind``), else its name
(``temperature``, ``pm2_5``, ``acceleration_x``, BTHome's ``temperature_2``, an IIO channel's
``voltage0``, a 1-Wire probe's address...; see :func:`_kind_name`). A kind missing from the table,
or one whose unit Home Assistant does not accept for the kind's device class, gets no device
class (a plain numeric sensor) rather than a wrong one. Units and state classes follow Home
Assistant's sensor documentation (``SensorDeviceClass``, ``DEVICE_CLASS_UNITS``,
``DEVICE_CLASS_STATE_CLASSES``). Units go to Home Assistant spelled as its constants spell
them: the micro prefix is the Greek mu, U+03BC (``μg/m³``), where the gateway's readings carry
the micro sign U+00B5 (``µg/m³``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ALLOWED_UNITS", "BINARY_KINDS", "DIAGNOSTIC_BINARY", "KIND_NAMES", "SENSOR_KINDS",
           "Classification", "classify", "display_name", "ha_unit"]

MEASUREMENT = "measurement"
TOTAL_INCREASING = "total_increasing"
DIAGNOSTIC = "diagnostic"

_PRESSURE = frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"})
_TEMPERATURE = frozenset({"°C", "°F", "K"})
_UG_M3 = frozenset({"μg/m³"})  # Greek mu, as Home Assistant spells it
_SPEED = frozenset({"m/s", "km/h", "mph", "ft/s", "mm/s", "in/s", "kn", "mm/d", "mm/h", "in/d",
                    "in/h", "Beaufort"})
_VOLUME = frozenset({"mL", "L", "m³", "ft³", "CCF", "fl. oz.", "gal"})

# Units Home Assistant accepts per sensor device class (the classes this gateway uses), spelled
# as its constants spell them: the micro prefix is U+03BC GREEK SMALL LETTER MU (HA's spelling
# since mid-2025; see ha_unit for the U+00B5 MICRO SIGN that older releases and our drivers use).
ALLOWED_UNITS: dict[str, frozenset[str | None]] = {
    "atmospheric_pressure": _PRESSURE,
    "battery": frozenset({"%"}),
    "carbon_dioxide": frozenset({"ppm"}),
    "conductivity": frozenset({"S/cm", "mS/cm", "μS/cm"}),
    "current": frozenset({"A", "mA"}),
    "distance": frozenset({"mm", "cm", "m", "km", "in", "ft", "yd", "mi"}),
    "duration": frozenset({"d", "h", "min", "s", "ms"}),
    "energy": frozenset({"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal",
                         "kcal", "Mcal", "Gcal"}),
    "gas": frozenset({"m³", "ft³", "CCF"}),
    "humidity": frozenset({"%"}),
    "illuminance": frozenset({"lx"}),
    "moisture": frozenset({"%"}),
    "pm1": _UG_M3,
    "pm10": _UG_M3,
    "pm25": _UG_M3,
    "power": frozenset({"W", "kW", "MW", "GW", "TW"}),
    "precipitation": frozenset({"cm", "mm", "in"}),
    "pressure": _PRESSURE,
    "signal_strength": frozenset({"dB", "dBm"}),
    "speed": _SPEED,
    "temperature": _TEMPERATURE,
    "volatile_organic_compounds": _UG_M3,
    "volatile_organic_compounds_parts": frozenset({"ppm", "ppb"}),
    "voltage": frozenset({"V", "mV", "μV", "kV", "MV"}),
    "volume": _VOLUME,
    "volume_flow_rate": frozenset({"m³/h", "L/min", "mL/s", "ft³/min", "gal/min"}),
    "volume_storage": _VOLUME,
    "water": frozenset({"m³", "L", "ft³", "CCF", "gal"}),
    "weight": frozenset({"μg", "mg", "g", "kg", "oz", "lb", "st"}),
    "wind_direction": frozenset({"°"}),
}


@dataclass(frozen=True, slots=True)
class _Kind:
    device_class: str | None
    state_class: str | None = MEASUREMENT
    entity_category: str | None = None


def _k(device_class: str | None, state_class: str | None = MEASUREMENT,
       category: str | None = None) -> _Kind:
    return _Kind(device_class, state_class, category)


# Numeric kinds: simulated profiles, serial protocols, BLE decoders (BTHome, Ruuvi, ATC/pvvx).
SENSOR_KINDS: dict[str, _Kind] = {
    # simulated profiles
    "temperature": _k("temperature"), "humidity": _k("humidity"),
    "pressure": _k("atmospheric_pressure"), "co2": _k("carbon_dioxide"), "pm25": _k("pm25"),
    "illuminance": _k("illuminance"), "battery": _k("battery", category=DIAGNOSTIC),
    "voltage": _k("voltage"),
    # serial: pms5003 / sds011 / mhz19 / nmea
    "pm1": _k("pm1"), "pm10": _k("pm10"),
    "particles_0_3um": _k(None), "particles_0_5um": _k(None), "particles_1_0um": _k(None),
    "particles_2_5um": _k(None), "particles_5_0um": _k(None), "particles_10um": _k(None),
    "fix_quality": _k(None, None, DIAGNOSTIC), "satellites": _k(None, MEASUREMENT, DIAGNOSTIC),
    "latitude": _k(None, None), "longitude": _k(None, None), "altitude": _k("distance"),
    "speed": _k("speed"),
    # BLE: BTHome objects, Ruuvi RAWv2, ATC/pvvx
    "mass": _k("weight"), "dew_point": _k("temperature"), "count": _k(None),
    "energy": _k("energy", TOTAL_INCREASING), "power": _k("power"), "tvoc": _k(
        "volatile_organic_compounds"), "moisture": _k("moisture"),
    "button": _k(None, None), "dimmer": _k(None, None), "rotation": _k(None),
    "distance": _k("distance"), "duration": _k("duration"), "current": _k("current"),
    "uv_index": _k(None), "volume": _k("volume", TOTAL_INCREASING),
    "volume_flow_rate": _k("volume_flow_rate"), "gas": _k("gas", TOTAL_INCREASING),
    "water": _k("water", TOTAL_INCREASING), "timestamp": _k(None, None, DIAGNOSTIC),
    "acceleration": _k(None), "acceleration_x": _k(None), "acceleration_y": _k(None),
    "acceleration_z": _k(None), "gyroscope": _k(None), "volume_storage": _k("volume_storage"),
    "conductivity": _k("conductivity"), "direction": _k("wind_direction", None),
    "precipitation": _k("precipitation"), "channel": _k(None, None, DIAGNOSTIC),
    "rotational_speed": _k(None), "light_level": _k(None),
    "tx_power": _k("signal_strength", category=DIAGNOSTIC),
    "movement_counter": _k(None, TOTAL_INCREASING),
    "rssi": _k("signal_strength", category=DIAGNOSTIC),
    # sysfs: IIO channel kinds as drivers/iio names them (others above: temperature, humidity,
    # pressure, illuminance, voltage, current, power, co2, pm1/pm25/pm10, uv_index, acceleration)
    "voc": _k("volatile_organic_compounds_parts"), "pm4": _k(None), "ethanol": _k(None),
    "h2": _k(None), "o2": _k(None), "concentration": _k(None), "resistance": _k(None),
    "capacitance": _k(None), "intensity": _k(None), "proximity": _k(None),
    "angular_velocity": _k(None), "magnetic_field": _k(None),
    # sysfs: the host's health (drivers/system): diagnostic entities
    "cpu_temperature": _k("temperature", category=DIAGNOSTIC),
    "load_1m": _k(None, MEASUREMENT, DIAGNOSTIC), "memory_used": _k(None, MEASUREMENT, DIAGNOSTIC),
    "disk_used": _k(None, MEASUREMENT, DIAGNOSTIC),
    "uptime": _k("duration", TOTAL_INCREASING, DIAGNOSTIC),
    # BLE: Xiaomi, Qingping, SwitchBot, Govee, Inkbird, ThermoBeacon, SensorPush, BlueMaestro,
    # Aranet (temperature, humidity, pressure, co2, pm25, pm10, moisture, conductivity,
    # illuminance, dew_point, light_level: above). Formaldehyde in mg/m³ gets no class, as
    # in Home Assistant's own Xiaomi integration; HA has no radon or radiation classes.
    "formaldehyde": _k(None), "consumable": _k(None),
    "no_motion_time": _k("duration"), "button_id": _k(None, None),
    "radon": _k(None), "radiation_dose_rate": _k(None),
    "radiation_dose": _k(None, TOTAL_INCREASING),
}

# BTHome binary objects (0/1) -> Home Assistant binary_sensor device class (None: generic).
BINARY_KINDS: dict[str, str | None] = {
    "generic_boolean": None, "power_on": "power", "opening": "opening", "battery_low": "battery",
    "battery_charging": "battery_charging", "carbon_monoxide": "carbon_monoxide",
    "cold": "cold", "connectivity": "connectivity", "door": "door", "garage_door": "garage_door",
    "gas_detected": "gas", "heat": "heat", "light": "light", "lock": "lock",
    "moisture_detected": "moisture", "motion": "motion", "moving": "moving",
    "occupancy": "occupancy", "plug": "plug", "presence": "presence", "problem": "problem",
    "running": "running", "safety": "safety", "smoke": "smoke", "sound": "sound",
    "tamper": "tamper", "vibration": "vibration", "window": "window",
    # the Raspberry Pi firmware's flags (drivers/system), now and since boot: diagnostic
    "under_voltage": "problem", "frequency_capped": "problem", "throttled": "problem",
    "soft_temp_limit": "heat", "under_voltage_occurred": "problem",
    "frequency_capped_occurred": "problem", "throttled_occurred": "problem",
    "soft_temp_limit_occurred": "heat",
}
DIAGNOSTIC_BINARY = frozenset({
    "under_voltage", "frequency_capped", "throttled", "soft_temp_limit", "under_voltage_occurred",
    "frequency_capped_occurred", "throttled_occurred", "soft_temp_limit_occurred"})

# The entity name a person would give a kind where "the kind, made readable" is not it
# (acronyms, sizes, symbols). Every other kind: its name with "_" as " ", first letter upper.
KIND_NAMES: dict[str, str] = {
    "co2": "CO2", "pm1": "PM1", "pm25": "PM2.5", "pm10": "PM10", "tvoc": "TVOC",
    "uv_index": "UV index", "rssi": "Signal strength", "tx_power": "Transmit power",
    "particles_0_3um": "Particles 0.3 μm", "particles_0_5um": "Particles 0.5 μm",
    "particles_1_0um": "Particles 1.0 μm", "particles_2_5um": "Particles 2.5 μm",
    "particles_5_0um": "Particles 5.0 μm", "particles_10um": "Particles 10 μm",
    "acceleration_x": "Acceleration X", "acceleration_y": "Acceleration Y",
    "acceleration_z": "Acceleration Z",
    "volume_flow_rate": "Flow rate", "fix_quality": "GPS fix quality",
    "power_on": "Power", "gas_detected": "Gas", "moisture_detected": "Moisture",
    "generic_boolean": "State",
}

_ALIASES = {"pm2_5": "pm25", "pm1_0": "pm1", "pm2.5": "pm25", "carbon_dioxide": "co2"}
_REPEAT = re.compile(r"^(?P<base>.+)_(?P<n>[0-9]+)$")
_INDEXED = re.compile(r"^(?P<base>[a-z_]*[a-z])[0-9]+(?:_.+)?$")  # voltage0, voltage0_voltage1
_ONEWIRE = re.compile(r"^(?:10|22|28|3b|42)-[0-9a-f]{12}$")  # a w1_therm probe's address


@dataclass(frozen=True, slots=True)
class Classification:
    """What a discovery component says about one sensor."""

    platform: str  # "sensor" or "binary_sensor"
    device_class: str | None
    unit: str | None
    state_class: str | None
    entity_category: str | None = None


def _known(name: str) -> bool:
    return name in SENSOR_KINDS or name in BINARY_KINDS


def _kind_name(kind: str) -> str:
    """The table's kind for a sensor's kind or name: itself, else BTHome's repeats
    (``temperature_2``), an IIO channel's index (``voltage0``, ``illuminance0``,
    ``voltage0_voltage1``) or modifier (``temperature_object``), a 1-Wire thermometer's
    address (``28-0316a2790fff``: a temperature)."""
    name = kind.strip().lower()
    name = _ALIASES.get(name, name)
    if _known(name):
        return name
    repeat = _REPEAT.match(name)  # BTHome's second temperature is temperature_2
    if repeat:
        name = _ALIASES.get(repeat["base"], repeat["base"])
    indexed = _INDEXED.match(name)
    head = name.partition("_")[0]
    if not _known(name) and indexed and _known(indexed["base"]):
        name = indexed["base"]
    elif not _known(name) and _known(head):
        name = head
    elif _ONEWIRE.match(name):
        name = "temperature"
    return name


def display_name(name: str) -> str:
    """The entity name for a sensor called ``name``: its kind's name from :data:`KIND_NAMES`
    (``pm2_5`` -> "PM2.5", ``temperature_2`` -> "Temperature 2"), else the name made readable
    (``outside_air`` -> "Outside air")."""
    key = name.strip().lower()
    kind = _kind_name(key)
    if kind in KIND_NAMES or kind in SENSOR_KINDS or kind in BINARY_KINDS:
        readable = KIND_NAMES.get(kind) or _readable(kind)
        repeat = _REPEAT.match(key)
        if repeat and key not in _ALIASES and kind != key and _kind_name(repeat["base"]) == kind:
            return f"{readable} {repeat['n']}"
        return readable
    return _readable(name)


def _readable(text: str) -> str:
    words = " ".join(text.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else text


def ha_unit(unit: str | None, *, micro_sign: bool = False) -> str | None:
    """``unit`` as Home Assistant's constants spell it: the micro prefix as U+03BC (current
    HA), or as U+00B5 MICRO SIGN with ``micro_sign`` (HA releases before the mid-2025 change,
    such as 2025.4, which warn about U+03BC)."""
    if unit is None:
        return None
    return unit.replace("\u03bc", "\u00b5") if micro_sign else unit.replace("\u00b5", "\u03bc")


def classify(kind: str, unit: str | None) -> Classification:
    """Home Assistant platform, device class, unit (HA's current spelling: :func:`ha_unit`)
    and state class for one sensor."""
    name = _kind_name(kind)
    unit = ha_unit(unit)
    if name in BINARY_KINDS and unit is None:
        category = DIAGNOSTIC if name in DIAGNOSTIC_BINARY else None
        return Classification("binary_sensor", BINARY_KINDS[name], None, None, category)
    entry = SENSOR_KINDS.get(name, _Kind(None, None))  # unknown: no claims at all
    device_class = entry.device_class
    if device_class is not None and unit not in ALLOWED_UNITS[device_class]:
        device_class = None  # e.g. acceleration in g, a Modbus "pressure" in mH2O
    state_class = entry.state_class
    return Classification("sensor", device_class, unit, state_class, entry.entity_category)
