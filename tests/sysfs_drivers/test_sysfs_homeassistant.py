"""Home Assistant discovery of the sysfs kinds, checked as Home Assistant reads it (the rules in
test_homeassistant.py, copied from its documentation) against a real Mosquitto: 1-Wire probes
named by address are temperatures, IIO channels their kinds with HA's units, the host's
sensors diagnostic entities and the Pi's flags diagnostic binary sensors; the board's model
from the device tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import collect
from support.sysfs import Procfs, Sysfs
from test_homeassistant import check_device_config, render

from gateway.homeassistant.kinds import classify

TOPIC = "homeassistant/device/ha-sys_{}/config"


def classes(component: dict[str, Any]) -> tuple[Any, ...]:
    return (component["platform"], component.get("device_class"),
            component.get("unit_of_measurement"), component.get("state_class"),
            component.get("entity_category"))


async def test_discovery_of_the_sysfs_kinds(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sysfs, procfs = Sysfs(tmp_path / "sys"), Procfs(tmp_path / "proc")
    sysfs.w1_probe("28-0316a2790fff", 21_500)
    sysfs.bme280(0)
    sysfs.ads1015(1)
    sysfs.thermal_zone(50_000)
    sysfs.throttled(0x50000)
    model = sysfs.root / "firmware" / "devicetree" / "base" / "model"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    procfs.loadavg()
    procfs.meminfo()
    procfs.uptime()
    devices = (
        f'[[devices]]\nid = "boiler"\ndriver = "onewire"\nroot = "{sysfs.root}"\ninterval = 0.2\n'
        f'[[devices]]\nid = "named"\ndriver = "onewire"\nroot = "{sysfs.root}"\n'
        'sensors = { "28-0316a2790fff" = "flow" }\n'
        f'[[devices]]\nid = "room"\ndriver = "iio"\nroot = "{sysfs.root}"\nname = "bme280"\n'
        "interval = 0.2\n"
        f'[[devices]]\nid = "adc"\ndriver = "iio"\nroot = "{sysfs.root}"\nname = "ads1015"\n'
        'interval = 0.2\nchannels = ["voltage0", "voltage0_voltage1"]\n'
        f'[[devices]]\nid = "pi"\ndriver = "system"\nroot = "{sysfs.root}"\n'
        f'proc = "{procfs.root}"\ndisk_path = "{tmp_path}"\ninterval = 0.2\n')
    text = base_config(mosquitto.port, "ha-sys", "[homeassistant]\ndiscovery = true\n") + devices
    root = "sensor-gateway/ha-sys"
    async with collect(mosquitto.host, mosquitto.port, "#") as sub:
        async with running(settings_from(tmp_path, text)):
            def announced() -> dict[str, dict[str, Any]]:
                found = {d: sub.on(TOPIC.format(d)) for d in ("boiler", "named", "room", "adc",
                                                              "pi")}
                return {d: m[-1].json for d, m in found.items() if m}

            await sub.wait_for(lambda: len(announced()) == 5
                               and "flow" in announced()["named"]["components"]
                               and len(announced()["pi"]["components"]) == 13
                               and len(announced()["room"]["components"]) == 3
                               and announced()["pi"]["device"].get("manufacturer"), timeout=15)
            bodies = announced()
    for body in bodies.values():
        check_device_config(body, root)

    probe = bodies["boiler"]["components"]["28-0316a2790fff"]
    assert classes(probe) == ("sensor", "temperature", "°C", "measurement", None)
    reading = sub.on(f"{root}/boiler/28-0316a2790fff")[0]
    assert float(render(probe["value_template"], reading.payload)) == 21.5
    assert bodies["boiler"]["device"]["model"] == "1-Wire thermometers (w1_therm)"
    assert bodies["named"]["device"]["model"] == "DS18B20 1-Wire thermometer"
    assert bodies["named"]["device"]["manufacturer"] == "Maxim Integrated"

    room = bodies["room"]
    assert (room["device"]["manufacturer"], room["device"]["model"]) == ("Bosch Sensortec",
                                                                          "BME280")
    assert classes(room["components"]["pressure"]) == (
        "sensor", "atmospheric_pressure", "hPa", "measurement", None)
    assert classes(room["components"]["humidity"]) == (
        "sensor", "humidity", "%", "measurement", None)
    adc = bodies["adc"]["components"]
    assert set(adc) == {"voltage0", "voltage0_voltage1"}
    assert classes(adc["voltage0_voltage1"]) == ("sensor", "voltage", "V", "measurement", None)

    pi = bodies["pi"]
    assert (pi["device"]["manufacturer"], pi["device"]["model"]) == (
        "Raspberry Pi Ltd", "Raspberry Pi 4 Model B Rev 1.4")
    host = pi["components"]
    assert classes(host["cpu_temperature"]) == (
        "sensor", "temperature", "°C", "measurement", "diagnostic")
    assert classes(host["uptime"]) == ("sensor", "duration", "s", "total_increasing", "diagnostic")
    assert classes(host["memory_used"]) == ("sensor", None, "%", "measurement", "diagnostic")
    assert classes(host["under_voltage"]) == ("binary_sensor", "problem", None, None,
                                              "diagnostic")
    flag = sub.on(f"{root}/pi/under_voltage_occurred")[0]
    assert render(host["under_voltage_occurred"]["value_template"], flag.payload) == "ON"
    now = sub.on(f"{root}/pi/under_voltage")[0]
    assert render(host["under_voltage"]["value_template"], now.payload) == "OFF"


def test_iio_names_map_to_their_kinds() -> None:
    for name, unit, expected in [("voltage0", "V", "voltage"), ("illuminance0", "lx",
                                 "illuminance"), ("temperature_object", "°C", "temperature"),
                                 ("voc", "ppm", "volatile_organic_compounds_parts"),
                                 ("pm2_5", "µg/m³", "pm25"), ("current1", "A", "current")]:
        assert classify(name, unit).device_class == expected, name
    assert classify("outside_air", "°C").device_class is None  # unknown stays unknown
