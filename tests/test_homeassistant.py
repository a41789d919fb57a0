"""Home Assistant MQTT discovery, checked like Home Assistant reads it, against real Mosquitto.

The tables below are Home Assistant's own rules, copied from its documentation and its
``homeassistant/components/sensor/const.py`` (``DEVICE_CLASS_UNITS``,
``DEVICE_CLASS_STATE_CLASSES``; units as its current constants spell them, the micro prefix as
U+03BC) and the MQTT integration's device-discovery section, written
out independently of gateway/ha_kinds.py so that a wrong mapping there fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt
import jinja2
import pytest
from support.broker import Mosquitto
from support.daemon import base_config, simulated
from support.inproc import running, settings_from
from support.mqtt import collect
from support.wait import until

from drivers.ble.decoders import SENSORS, _atc, _bthome, _ruuvi
from drivers.iio.channels import TYPES as IIO_TYPES
from drivers.iio.channels import spec_of
from drivers.serial.config import KNOWN_SENSORS
from drivers.simulated.config import PROFILES
from drivers.system.sources import SENSORS as SYSTEM_SENSORS
from gateway.config import Settings, load_config
from gateway.core.readings import Measurement
from gateway.homeassistant.discovery import Discovery
from gateway.homeassistant.kinds import classify
from gateway.mqtt.publisher import Publisher

# --- Home Assistant's rules (from its docs) ----------------------------------------------------

PRESSURE = {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}
VOLUME = {"mL", "L", "m³", "ft³", "CCF", "fl. oz.", "gal"}
MEAS, TOTAL, TOTAL_INC = "measurement", "total", "total_increasing"
ANY_STATE = {MEAS, TOTAL, TOTAL_INC}
# device class -> (allowed units, allowed state classes); HA spells the micro prefix with the
# Greek mu (U+03BC), as its constants do (CONCENTRATION_MICROGRAMS_PER_CUBIC_METER = "μg/m³")
HA_SENSOR_CLASSES: dict[str, tuple[set[str], set[str]]] = {
    "atmospheric_pressure": (PRESSURE, {MEAS}),
    "battery": ({"%"}, {MEAS}),
    "carbon_dioxide": ({"ppm"}, {MEAS}),
    "carbon_monoxide": ({"ppm"}, {MEAS}),
    "conductivity": ({"S/cm", "mS/cm", "μS/cm"}, {MEAS}),
    "current": ({"A", "mA"}, {MEAS}),
    "distance": ({"mm", "cm", "m", "km", "in", "ft", "yd", "mi"}, ANY_STATE),
    "duration": ({"d", "h", "min", "s", "ms"}, ANY_STATE),
    "energy": ({"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal",
                "Mcal", "Gcal"}, {TOTAL, TOTAL_INC}),
    "gas": ({"m³", "ft³", "CCF"}, {TOTAL, TOTAL_INC}),
    "humidity": ({"%"}, {MEAS}),
    "illuminance": ({"lx"}, {MEAS}),
    "moisture": ({"%"}, {MEAS}),
    "pm1": ({"μg/m³"}, {MEAS}),
    "pm10": ({"μg/m³"}, {MEAS}),
    "pm25": ({"μg/m³"}, {MEAS}),
    "power": ({"W", "kW", "MW", "GW", "TW"}, {MEAS}),
    "precipitation": ({"cm", "mm", "in"}, ANY_STATE),
    "pressure": (PRESSURE, {MEAS}),
    "signal_strength": ({"dB", "dBm"}, {MEAS}),
    "speed": ({"m/s", "km/h", "mph", "ft/s", "mm/s", "in/s", "kn", "mm/d", "mm/h", "in/d",
               "in/h", "Beaufort"}, {MEAS}),
    "temperature": ({"°C", "°F", "K"}, {MEAS}),
    "volatile_organic_compounds": ({"μg/m³"}, {MEAS}),
    "volatile_organic_compounds_parts": ({"ppm", "ppb"}, {MEAS}),
    "voltage": ({"V", "mV", "μV", "kV", "MV"}, {MEAS}),
    "volume": (VOLUME, {TOTAL, TOTAL_INC}),
    "volume_flow_rate": ({"m³/h", "L/min", "mL/s", "ft³/min", "gal/min"}, {MEAS}),
    "volume_storage": (VOLUME, {MEAS}),
    "water": ({"m³", "L", "ft³", "CCF", "gal"}, {TOTAL, TOTAL_INC}),
    "weight": ({"μg", "mg", "g", "kg", "oz", "lb", "st"}, ANY_STATE),
    "wind_direction": ({"°"}, set()),
}
HA_BINARY_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window",
}
ENTITY_CATEGORIES = {"config", "diagnostic"}
NODE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def check_component(cid: str, c: dict[str, Any]) -> None:
    """One entry of ``components``: HA's required keys and allowed class/unit/state pairs."""
    assert set(cid) <= NODE_ID_CHARS, cid
    if set(c) == {"platform"}:  # HA's documented way to remove one component
        return
    assert c["platform"] in {"sensor", "binary_sensor"}, c
    assert c["unique_id"] and isinstance(c["unique_id"], str)
    assert c["state_topic"] and "+" not in c["state_topic"] and "#" not in c["state_topic"]
    assert c.get("entity_category") in (None, *ENTITY_CATEGORIES)
    if "expire_after" in c:
        assert isinstance(c["expire_after"], int) and c["expire_after"] > 0
    if c["platform"] == "binary_sensor":
        assert c.get("device_class") in (None, *HA_BINARY_CLASSES)
        assert "unit_of_measurement" not in c and "state_class" not in c
        return
    device_class, unit, state = (c.get("device_class"), c.get("unit_of_measurement"),
                                 c.get("state_class"))
    assert state in (None, MEAS, TOTAL, TOTAL_INC)
    if device_class is not None:
        units, states = HA_SENSOR_CLASSES[device_class]
        assert unit in units, f"{cid}: {unit!r} is not a unit HA allows for {device_class}"
        assert state is None or state in states, f"{cid}: {state} not allowed for {device_class}"


def check_device_config(body: dict[str, Any], root: str) -> None:
    """HA's device-based discovery: device and origin mappings, components, availability."""
    device = body["device"]
    assert device["identifiers"] and device["name"]
    assert body["origin"]["name"] == "sensor-gateway" and body["origin"]["sw_version"]
    assert body["components"]
    for cid, component in body["components"].items():
        check_component(cid, component)
    if "via_device" in device:  # a sensor device: availability from gateway and device
        topics = [a["topic"] for a in body["availability"]]
        assert topics[0] == f"{root}/status"
        assert topics[1].startswith(f"{root}/") and topics[1].endswith("/status")
        assert body["availability_mode"] == "all"
        assert all(a["payload_available"] == "online" for a in body["availability"])


# --- the mapping table -------------------------------------------------------------------------

def builtin_kinds() -> list[tuple[str, str | None]]:
    kinds = [(name, p.unit) for name, p in PROFILES.items()]
    kinds += [(n, u) for table in KNOWN_SENSORS.values() for n, u in table.items()]
    kinds += [(o.name, o.unit) for o in _bthome._OBJECTS.values()]
    kinds += [(f.name, f.unit) for f in _ruuvi._ALL.values()]
    kinds += [("temperature", "°C"), ("humidity", "%"), ("battery", "%"), ("voltage", "V"),
              ("rssi", "dBm")]
    assert callable(_atc.decode_atc)  # ATC/pvvx publish the four above
    kinds += [(t.kind, t.unit) for t in IIO_TYPES.values()]  # IIO channels...
    kinds += [spec_of(n) for n in ("co2", "voc", "pm1", "pm2_5", "pm4", "pm10", "ethanol", "h2",
                                   "o2", "voltage0", "temperature_object")]  # ...as named
    kinds += list(SYSTEM_SENSORS.items())  # the host's health (flags: on/off)
    kinds += [("28-0316a2790fff", "°C")]  # a 1-Wire probe named by its address
    kinds += [pair for pairs in SENSORS.values() for pair in pairs]  # Xiaomi, Govee...
    kinds += [("temperature_3", "°C")]  # a Govee meat thermometer's third probe
    return kinds


@pytest.mark.parametrize(("kind", "unit"), sorted(set(builtin_kinds()), key=str))
def test_every_builtin_kind_maps_to_what_ha_accepts(kind: str, unit: str | None) -> None:
    c = classify(kind, unit)
    entry = {"platform": c.platform, "unique_id": "x", "state_topic": "a/b"}
    entry |= {k: v for k, v in {"device_class": c.device_class, "state_class": c.state_class,
                                "unit_of_measurement": c.unit}.items() if v is not None}
    check_component("x", entry)
    assert c.unit == (unit.replace("\u00b5", "\u03bc") if unit else unit)  # HA's spelling


@pytest.mark.parametrize(("kind", "unit", "expected"), [
    ("temperature", "°C", ("sensor", "temperature", "°C", MEAS)),
    ("temperature_2", "°C", ("sensor", "temperature", "°C", MEAS)),
    ("pm2_5", "µg/m³", ("sensor", "pm25", "μg/m³", MEAS)),  # U+00B5 in, U+03BC out
    ("pm1_0", "µg/m³", ("sensor", "pm1", "μg/m³", MEAS)),
    ("conductivity", "µS/cm", ("sensor", "conductivity", "μS/cm", MEAS)),
    ("moisture", "%", ("sensor", "moisture", "%", MEAS)),
    ("formaldehyde", "mg/m³", ("sensor", None, "mg/m³", MEAS)),
    ("no_motion_time", "s", ("sensor", "duration", "s", MEAS)),
    ("motion", None, ("binary_sensor", "motion", None, None)),
    ("opening", None, ("binary_sensor", "opening", None, None)),
    ("smoke", None, ("binary_sensor", "smoke", None, None)),
    ("moisture_detected", None, ("binary_sensor", "moisture", None, None)),
    ("co2", "ppm", ("sensor", "carbon_dioxide", "ppm", MEAS)),
    ("pressure", "hPa", ("sensor", "atmospheric_pressure", "hPa", MEAS)),
    ("battery", "%", ("sensor", "battery", "%", MEAS)),
    ("energy", "kWh", ("sensor", "energy", "kWh", TOTAL_INC)),
    ("acceleration_x", "g", ("sensor", None, "g", MEAS)),  # HA has no acceleration class
    ("pressure", "mH2O", ("sensor", None, "mH2O", MEAS)),  # a unit HA refuses: no class
    ("door", None, ("binary_sensor", "door", None, None)),
    ("latitude", "°", ("sensor", None, "°", None)),
    ("outside_air", "°C", ("sensor", None, "°C", None)),  # unknown kind: no claims
    ("flux_capacitor", None, ("sensor", None, None, None)),
])
def test_mapping_table(
    kind: str, unit: str | None, expected: tuple[str, str | None, str | None, str | None]
) -> None:
    c = classify(kind, unit)
    assert (c.platform, c.device_class, c.unit, c.state_class) == expected


# --- against a real broker ---------------------------------------------------------------------

def ha_config(port: int, gateway_id: str, devices: str) -> str:
    return base_config(port, gateway_id, "[homeassistant]\ndiscovery = true\n") + devices


async def publish(broker: Mosquitto, topic: str, payload: str | bytes, *,
                  retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def render(template: str, payload: bytes) -> str:
    """Render a value_template as Home Assistant does (Jinja with ``value_json``)."""
    return jinja2.Environment(autoescape=False).from_string(template).render(
        value_json=json.loads(payload), value=payload.decode())


async def test_discovery_payloads_as_home_assistant_reads_them(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    devices = (
        simulated("kitchen", 0.05, '["temperature", "humidity", "pressure", "battery"]')
        + simulated("office", 0.05, '["co2", {name = "outside", profile = "temperature"}, '
                    '{name = "lamp", min = 0, max = 60, unit = "W"}]', 'layout = "device"')
        + simulated("cellar", 0.5, '["humidity"]', "deadband = 0.5\nheartbeat = 10")
    )
    text = ha_config(mosquitto.port, "ha-gw", devices)
    root = "sensor-gateway/ha-gw"
    topic = "homeassistant/device/ha-gw_{}/config"
    async with collect(mosquitto.host, mosquitto.port, "#") as sub:
        async with running(settings_from(tmp_path, text)):
            await sub.wait_for(lambda: all(sub.on(topic.format(d)) for d in
                                           ("kitchen", "office", "cellar")))
            await sub.wait_for(lambda: sub.on(f"{root}/office"))
            async with collect(mosquitto.host, mosquitto.port, "homeassistant/#") as late:
                await late.wait_for(lambda: late.on(topic.format("cellar")))
    assert all(m.retain for m in late.under("homeassistant/device/ha-gw"))
    configs = {m.topic: m for m in sub.under("homeassistant/device/ha-gw")}
    bodies = {t: m.json for t, m in configs.items() if m.payload}
    for body in bodies.values():
        check_device_config(body, root)
    unique_ids = [c["unique_id"] for b in bodies.values() for c in b["components"].values()]
    assert len(unique_ids) == len(set(unique_ids))

    gateway = bodies["homeassistant/device/ha-gw/config"]
    kitchen = bodies[topic.format("kitchen")]
    assert kitchen["device"]["via_device"] == gateway["device"]["identifiers"][0]
    assert [a["topic"] for a in kitchen["availability"]] == [
        f"{root}/status", f"{root}/kitchen/status"]
    temp = kitchen["components"]["temperature"]
    assert (temp["device_class"], temp["unit_of_measurement"], temp["state_class"]) == (
        "temperature", "°C", "measurement")
    assert temp["expire_after"] == 1  # 3 x 0.05 s interval, at least 1 s
    assert kitchen["components"]["battery"]["entity_category"] == "diagnostic"
    reading = sub.on(f"{root}/kitchen/temperature")[0]
    assert temp["state_topic"] == reading.topic
    assert float(render(temp["value_template"], reading.payload)) == reading.json["value"]

    office = bodies[topic.format("office")]["components"]
    assert office["outside"]["device_class"] == "temperature"  # by its profile
    assert office["lamp"]["unit_of_measurement"] == "W" and "device_class" not in office["lamp"]
    body = sub.on(f"{root}/office")[0]
    assert office["co2"]["state_topic"] == f"{root}/office"
    assert float(render(office["co2"]["value_template"], body.payload)) == (
        body.json["readings"]["co2"]["value"])
    cellar = bodies[topic.format("cellar")]["components"]["humidity"]
    assert cellar["expire_after"] == 12  # offline after 1.5 s + heartbeat 10 s, rounded up


async def test_republished_when_home_assistant_comes_online(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    text = ha_config(mosquitto.port, "ha-birth", simulated("porch", 0.1))
    config_topic = "homeassistant/device/ha-birth_porch/config"
    async with running(settings_from(tmp_path, text)):
        async with collect(mosquitto.host, mosquitto.port, config_topic) as early:
            await early.wait_for(lambda: early.on(config_topic))
        async with collect(mosquitto.host, mosquitto.port, config_topic) as sub:
            first = await sub.wait_for(lambda: sub.on(config_topic))
            assert first[0].retain  # the retained copy, as HA gets it when it subscribes
            await publish(mosquitto, "homeassistant/status", "online")  # HA's birth message
            await sub.wait_for(lambda: len(sub.on(config_topic)) >= 2)
    again = sub.on(config_topic)[1]
    assert not again.retain  # sent live, not replayed by the broker
    assert again.json == first[0].json


async def test_removed_device_is_removed_on_next_start(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    both = ha_config(mosquitto.port, "ha-rm", simulated("keep", 0.1, '["temperature", "co2"]')
                     + simulated("gone", 0.1))
    keep = "homeassistant/device/ha-rm_keep/config"
    gone = "homeassistant/device/ha-rm_gone/config"
    other = "homeassistant/device/elsewhere_gone/config"
    async with collect(mosquitto.host, mosquitto.port, "homeassistant/#") as sub:
        await publish(mosquitto, other, json.dumps({"device": {"via_device": "other"}}),
                      retain=True)  # another gateway's device: left alone
        async with running(settings_from(tmp_path, both)):
            await sub.wait_for(lambda: sub.on(gone) and sub.on(keep))
        (tmp_path / "second").mkdir()
        one = ha_config(mosquitto.port, "ha-rm", simulated("keep", 0.1))
        async with running(settings_from(tmp_path / "second", one)):
            await sub.wait_for(lambda: sub.on(gone)[-1].payload == b"")
            stub = {"platform": "sensor"}  # removes one component, as HA documents
            await sub.wait_for(lambda: sub.on(keep)[-1].json["components"].get("co2") == stub)
    components = sub.on(keep)[-1].json["components"]
    assert components["temperature"]["unique_id"] == "ha-rm_keep_temperature"
    async with collect(mosquitto.host, mosquitto.port, "homeassistant/device/+/config") as late:
        await late.wait_for(lambda: late.on(keep) and late.on(other))
    assert late.on(keep)[0].json["device"]["name"] == "Keep"
    assert not late.on(gone)  # no retained config is left for it
    await publish(mosquitto, other, b"", retain=True)


def test_sensor_known_only_at_run_time_is_added(tmp_path: Path) -> None:
    """A line-protocol device announces a sensor when it first reports (real Publisher object,
    not connected: its retained state is what it would send)."""
    path = tmp_path / "c.toml"
    path.write_text('[gateway]\nid = "rt"\n[homeassistant]\ndiscovery = true\n'
                    '[[devices]]\nid = "uart"\ndriver = "serial"\nport = "/dev/null"\n'
                    'protocol = "json"\nunits = { t = "°C" }\n')
    settings = load_config(path)
    from gateway.core.topics import TopicLayout
    from gateway.delivery.buffer import MemoryBuffer

    publisher = Publisher(settings.mqtt, TopicLayout(settings.topic_root), MemoryBuffer(), "x")
    discovery = Discovery(settings, publisher)
    discovery.start(settings.expanded_devices())
    topic = "homeassistant/device/rt_uart/config"
    assert publisher.retained(topic) is None  # nothing known yet: nothing announced
    discovery.sensor_seen("uart", Measurement("temperature", 21.0, "°C"))
    discovery.sensor_seen("uart", Measurement("co2", 800.0, "ppm"))
    body = json.loads(publisher.retained(topic) or "")
    check_device_config(body, "sensor-gateway/rt")
    assert body["components"]["temperature"]["device_class"] == "temperature"
    assert body["components"]["co2"]["device_class"] == "carbon_dioxide"
    assert body["device"]["model"] == "serial (json lines)"

    # Read back on the next start (the retained config of this run): a sensor not yet heard
    # from is kept, since only the device knows which sensors it has.
    restarted = Discovery(settings, Publisher(settings.mqtt, TopicLayout(settings.topic_root),
                                              MemoryBuffer(), "x"))
    restarted.start(settings.expanded_devices())
    restarted._on_config(topic, json.dumps(body).encode(), True)  # the subscription handler
    kept = json.loads(restarted.publisher.retained(topic) or "")
    assert kept["components"] == body["components"]


def test_update_after_a_reload_removes_and_announces(tmp_path: Path) -> None:
    """What a config reload hands to Discovery.update (real Publisher object, not connected:
    its retained state is what it sends)."""
    def settings_for(devices: str) -> Settings:
        path = tmp_path / "c.toml"
        path.write_text('[gateway]\nid = "rl"\n[homeassistant]\ndiscovery = true\n' + devices)
        return load_config(path)

    from gateway.core.topics import TopicLayout
    from gateway.delivery.buffer import MemoryBuffer

    old = settings_for(simulated("a", 1, '["temperature", "humidity"]') + simulated("b", 1))
    publisher = Publisher(old.mqtt, TopicLayout(old.topic_root), MemoryBuffer(), "x")
    discovery = Discovery(old, publisher)
    discovery.start(old.expanded_devices())
    new = settings_for(simulated("a", 1, '["temperature"]') + simulated("c", 1, '["co2"]'))
    discovery.update(new.expanded_devices())
    assert publisher.retained("homeassistant/device/rl_b/config") == ""
    a = json.loads(publisher.retained("homeassistant/device/rl_a/config") or "")
    assert a["components"]["humidity"] == {"platform": "sensor"}
    assert a["components"]["temperature"]["device_class"] == "temperature"
    c = json.loads(publisher.retained("homeassistant/device/rl_c/config") or "")
    check_device_config(c, "sensor-gateway/rl")


def test_device_layout_template_survives_hostile_sensor_names(tmp_path: Path) -> None:
    """A JSON-lines device names its own fields: such a name must not break out of the
    value_template (rendered here with Jinja, like Home Assistant does)."""
    from drivers.simulated.config import SimulatedConfig
    from gateway.core.topics import sanitize
    from gateway.homeassistant.discovery import Naming, component

    settings = settings_from(tmp_path, '[gateway]\nid = "x"\n')
    config = SimulatedConfig.model_validate({"id": "d", "sensors": ["co2"], "layout": "device"})
    for name in ['t"}}{{ 7*7 }}', "température", "a\\b", "{% raw %}"]:
        entry = component(Naming(settings), config, name, name, None)
        body = json.dumps({"readings": {sanitize(name): {"value": 42}}}).encode()  # as sent
        assert render(entry["value_template"], body) == "42", name


def test_docs_table_matches_the_mapping() -> None:
    from support.daemon import REPO

    from gateway.homeassistant.kinds import BINARY_KINDS, SENSOR_KINDS

    doc = (REPO / "docs" / "homeassistant.md").read_text()
    for kind, entry in SENSOR_KINDS.items():
        dc = f"`{entry.device_class}`" if entry.device_class else "none"
        assert f"| `{kind}` | {dc}" in doc, kind
        assert f"| {entry.state_class or 'none'} |" in doc.split(f"| `{kind}` |")[1].split("\n")[0]
    for kind, binary_dc in BINARY_KINDS.items():
        assert f"| `{kind}` | {f'`{binary_dc}`' if binary_dc else 'none'} |" in doc, kind


async def test_configs_come_back_after_a_broker_restart_without_persistence(
    tmp_path: Path, own_mosquitto: Mosquitto
) -> None:
    """The broker forgets its retained messages when restarted without persistence; the
    gateway sends its discovery again on the reconnect."""
    text = ha_config(own_mosquitto.port, "ha-re", simulated("attic", 0.1))
    topic = "homeassistant/device/ha-re_attic/config"
    async with running(settings_from(tmp_path, text)) as gateway:
        async with collect(own_mosquitto.host, own_mosquitto.port, topic) as sub:
            await sub.wait_for(lambda: sub.on(topic))
        own_mosquitto.kill()
        own_mosquitto.start()
        async with collect(own_mosquitto.host, own_mosquitto.port, topic) as again:
            await again.wait_for(lambda: again.on(topic), timeout=15)
        assert gateway.publisher.reconnects >= 1
    assert again.on(topic)[0].json == sub.on(topic)[0].json


def _discovery_for(tmp_path: Path, homeassistant: str, devices: str) -> Publisher:
    """Discovery on a real, unconnected Publisher: its retained state is what it would send."""
    from gateway.core.topics import TopicLayout
    from gateway.delivery.buffer import MemoryBuffer

    path = tmp_path / "c.toml"
    path.write_text(f'[gateway]\nid = "gw"\n[mqtt]\nqos = 0\n[homeassistant]\ndiscovery = true\n'
                    f"{homeassistant}\n{devices}")
    settings = load_config(path)
    publisher = Publisher(settings.mqtt, TopicLayout(settings.topic_root), MemoryBuffer(), "x")
    Discovery(settings, publisher).start(settings.expanded_devices())
    return publisher


def test_names_people_would_choose(tmp_path: Path) -> None:
    devices = (
        simulated("greenhouse", 1, '["temperature", {name = "greenhouse_humidity", '
                  'profile = "humidity"}, {name = "outside_air", profile = "temperature"}]')
        + simulated("air", 1, '["pm25", "co2", "battery"]', 'name = "Living room air"')
        + '[[devices]]\nid = "dust"\ndriver = "serial"\nport = "/dev/null"\nprotocol = "pms5003"\n'
    )
    publisher = _discovery_for(tmp_path, "", devices)
    greenhouse = json.loads(publisher.retained("homeassistant/device/gw_greenhouse/config") or "")
    air = json.loads(publisher.retained("homeassistant/device/gw_air/config") or "")
    dust = json.loads(publisher.retained("homeassistant/device/gw_dust/config") or "")
    assert greenhouse["device"]["name"] == "Greenhouse"  # the id made readable
    assert air["device"]["name"] == "Living room air"  # the device's own `name`
    names = {cid: c["name"] for cid, c in greenhouse["components"].items()}
    assert names == {"temperature": "Temperature", "greenhouse_humidity": "Humidity",
                     "outside_air": "Outside air"}  # never the device's name again
    assert {c["name"] for c in air["components"].values()} == {"PM2.5", "CO2", "Battery"}
    dust_names = {c["name"] for c in dust["components"].values()}
    assert {"PM1", "PM2.5", "PM10", "Particles 0.3 \u03bcm", "Particles 10 \u03bcm"} <= dust_names
    assert dust["device"]["manufacturer"] == "Plantower"
    # entity ids fixed by the config, not by names that may change; qos on every component
    temp = greenhouse["components"]["temperature"]
    assert (temp["object_id"], temp["default_entity_id"]) == (
        "greenhouse_temperature", "sensor.greenhouse_temperature")
    for body in (greenhouse, air, dust):
        assert all(c["qos"] == 0 for c in body["components"].values())
    assert air["components"]["pm25"]["unit_of_measurement"] == "\u03bcg/m³"  # HA's constant


def test_gateway_in_entity_ids_and_micro_sign_options(tmp_path: Path) -> None:
    publisher = _discovery_for(tmp_path, "gateway_in_entity_ids = true\nmicro_sign = true",
                               simulated("air", 1, '["pm25"]'))
    air = json.loads(publisher.retained("homeassistant/device/gw_air/config") or "")
    pm25 = air["components"]["pm25"]
    assert (pm25["object_id"], pm25["default_entity_id"]) == ("gw_air_pm25", "sensor.gw_air_pm25")
    assert pm25["unit_of_measurement"] == "\u00b5g/m³"  # for HA releases before mid-2025
    assert pm25["unique_id"] == "gw_air_pm25"  # unchanged by either option
    from gateway.homeassistant.discovery import entity_slug

    assert entity_slug("Office-2 \u00dc_pm2.5") == "office_2_pm2_5"  # HA's id alphabet only


async def test_last_readings_sent_again_after_discovery_and_ha_birth(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """A steady sensor under report-by-exception publishes once; Home Assistant, subscribing
    only after discovery, would never see it. Its reading is sent again ``replay_delays``
    after every discovery (here 0.5 s): an exact duplicate, same seq and ts."""
    steady = simulated("vault", 0.1, '[{name = "level", min = 0, max = 100, base = 42, '
                       'amplitude = 0, noise = 0, drift = 0}]', "deadband = 0")
    text = ha_config(mosquitto.port, "ha-replay", steady).replace(
        "discovery = true\n", "discovery = true\nreplay_delays = [0.5]\n")
    topic = "sensor-gateway/ha-replay/vault/level"
    async with collect(mosquitto.host, mosquitto.port, topic) as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(topic)) >= 2, timeout=10)
            await publish(mosquitto, "homeassistant/status", "online")  # HA (re)started
            await sub.wait_for(lambda: len(sub.on(topic)) >= 3, timeout=10)
            assert gateway.devices["vault"].readings == 1  # one reading, sent three times
    payloads = {m.payload for m in sub.on(topic)}
    assert len(payloads) == 1  # the same seq and ts every time
    assert len(sub.on(topic)) == 3  # one replay per discovery, not one per message sent


async def test_last_readings_sent_again_after_a_reconnect(
    tmp_path: Path, own_mosquitto: Mosquitto
) -> None:
    """The broker restarted without persistence (Home Assistant reconnects and subscribes
    again): a steady sensor's last reading goes out again after the gateway's reconnect."""
    steady = simulated("safe", 0.1, '[{name = "level", min = 0, max = 100, base = 7, '
                       'amplitude = 0, noise = 0, drift = 0}]', "deadband = 0")
    text = ha_config(own_mosquitto.port, "ha-rc", steady).replace(
        "discovery = true\n", "discovery = true\nreplay_delays = [0.3]\n")
    topic = "sensor-gateway/ha-rc/safe/level"
    async with running(settings_from(tmp_path, text)) as gateway:
        # the reading and its replay after discovery, both acknowledged by the broker
        await until(lambda: gateway.publisher.published >= 2)
        assert gateway.buffer.stats().queued + gateway.buffer.stats().inflight == 0
        own_mosquitto.kill()
        own_mosquitto.start()
        async with collect(own_mosquitto.host, own_mosquitto.port, topic) as again:
            await again.wait_for(lambda: again.on(topic), timeout=15)
        assert gateway.devices["safe"].readings == 1  # not a new reading: the last one again
    assert again.on(topic)[0].json["seq"] == 1 and again.on(topic)[0].json["value"] == 7
