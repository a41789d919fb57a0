"""adapter = "simulated": real advert bytes through the BLE dispatch and decoders, no radio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.broker import Mosquitto
from support.daemon import REPO, base_config, python_output
from support.inproc import running, settings_from
from support.mqtt import collect

KEY = "231d39c1d7cc1ab1aee224cd096db932"


def sim_device(device_id: str, address: str, extra: str = "") -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "ble"\naddress = "{address}"\n'
            f'adapter = "simulated"\n{extra}\n')


DEVICES = (
    sim_device("bthome", "A4:C1:38:00:00:01", "simulate = { every = 0.1 }")
    + sim_device("sealed", "A4:C1:38:00:00:02",
                 f'bindkey = "{KEY}"\nsimulate = {{ every = 0.1 }}')
    + sim_device("ruuvi", "C6:00:00:00:00:03", 'decoder = "ruuvi"\nsimulate = { every = 0.1 }')
    + sim_device("atc", "A4:C1:38:00:00:04",
                 'simulate = { format = "atc1441", every = 0.1 }')
    + sim_device("pvvx", "A4:C1:38:00:00:05",
                 'decoder = "atc"\nsimulate = { format = "pvvx", every = 0.1 }')
    # issue 13: an encrypted LYWSD03MMC, a Qingping CGG1, a Govee H5075
    + sim_device("xiaomi", "A4:C1:38:00:00:06",
                 f'bindkey = "{KEY}"\nsimulate = {{ format = "xiaomi", every = 0.1 }}')
    + sim_device("qingping", "58:2D:34:00:00:07", 'simulate = { format = "qingping", every = 0.1 }')
    + sim_device("govee", "A4:C1:38:00:00:08", 'decoder = "govee"\nsimulate = { every = 0.1 }')
)
EXPECTED = {
    "bthome": {"temperature": "°C", "humidity": "%", "battery": "%"},
    "sealed": {"temperature": "°C", "humidity": "%", "battery": "%"},
    "ruuvi": {"temperature": "°C", "humidity": "%", "pressure": "hPa", "voltage": "V"},
    "atc": {"temperature": "°C", "humidity": "%", "battery": "%", "voltage": "V"},
    "pvvx": {"temperature": "°C", "humidity": "%", "battery": "%", "voltage": "V"},
    "xiaomi": {"temperature": "°C", "humidity": "%", "battery": "%"},
    "qingping": {"temperature": "°C", "humidity": "%", "battery": "%"},
    "govee": {"temperature": "°C", "humidity": "%", "battery": "%"},
}
RANGES = {"temperature": (15, 27), "humidity": (35, 55), "battery": (87, 87),
          "pressure": (1010, 1016), "voltage": (2.9, 3.0)}


async def test_simulated_devices_publish_decoded_values(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    root = "sensor-gateway/ble-sim"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-sim") + DEVICES)
    topics = [f"{root}/{d}/{s}" for d, sensors in EXPECTED.items() for s in sensors]
    async with collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub, running(settings):
        try:
            await sub.wait_for(lambda: all(sub.on(t) for t in topics))
        except TimeoutError:
            pytest.fail(f"never published: {[t for t in topics if not sub.on(t)]}")
        await sub.wait_for(lambda: len(sub.on(f"{root}/bthome/temperature")) >= 2)
    for device, sensors in EXPECTED.items():
        published = {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/{device}/")}
        assert published - {"status"} == set(sensors), device
        for sensor, unit in sensors.items():
            for msg in sub.on(f"{root}/{device}/{sensor}"):
                low, high = RANGES[sensor]
                assert msg.json["unit"] == unit
                assert low <= msg.json["value"] <= high, (device, sensor, msg.json)
    # Report by exception: the constant battery level was published once, not per advert.
    assert len(sub.on(f"{root}/bthome/battery")) == 1


@pytest.mark.usefixtures("mosquitto")
def test_simulated_ble_never_imports_bleak_or_dbus(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(base_config(mosquitto.port, "ble-lazy") + DEVICES)
    code = (
        "import sys, asyncio\n"
        "from pathlib import Path\n"
        "from gateway.config import load_config\n"
        "from gateway.daemon import Gateway\n"
        "async def main():\n"
        f"    g = Gateway(load_config(Path({str(config)!r})))\n"
        "    stop = asyncio.Event()\n"
        "    task = asyncio.create_task(g.run(stop))\n"
        "    async with asyncio.timeout(20):\n"
        "        while sum(d.readings for d in g.devices.values()) < 20:\n"
        "            await asyncio.sleep(0.05)\n"
        "    stop.set()\n"
        "    await task\n"
        "asyncio.run(main())\n"
        "print([m for m in ('bleak', 'dbus_fast', 'bleak_retry_connector') if m in sys.modules])\n"
    )
    assert python_output(code).strip().splitlines()[-1] == "[]"


def test_a_daemon_without_ble_devices_never_imports_the_ble_stack(tmp_path: Path) -> None:
    """The BLE config model is imported by every daemon (config validation); its stack is not."""
    config = tmp_path / "c.toml"
    config.write_text('[[devices]]\nid = "a"\ndriver = "simulated"\nsensors = ["co2"]\n')
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gateway.config import load_config\n"
        "from gateway.daemon import Gateway\n"
        f"Gateway(load_config(Path({str(config)!r})))\n"
        "import drivers.ble.adverts, drivers.ble.source, drivers.ble.gatt, drivers.ble.simulator\n"
        "heavy = ('bleak', 'dbus_fast', 'bleak_retry_connector', 'cryptography')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    assert python_output(code).strip() == "[]"


def test_scan_on_a_terminal_redraws_a_live_table() -> None:
    """On a real pseudo-terminal the table is redrawn every second (ANSI home + clear)."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "scan", "ble", "--seconds", "2.5",
             "--adapter", "simulated"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=slave,
            stderr=subprocess.PIPE)
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
    text = output.decode()
    assert text.count("\x1b[H\x1b[2J") >= 2  # redrawn, not printed once
    assert "sim-bthome" in text and "temperature=" in text


async def test_simulated_ble_device_in_home_assistant_discovery(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A BLE device's sensors, found at run time, are announced with HA's device classes and an
    expire_after of the BLE timeout plus the BLE heartbeat."""
    text = (base_config(mosquitto.port, "ble-ha") + "[homeassistant]\ndiscovery = true\n"
            + sim_device("porch", "C6:00:00:00:00:09",
                         'decoder = "ruuvi"\nsimulate = { every = 0.1 }'))
    topic = "homeassistant/device/ble-ha_porch/config"

    def components() -> dict[str, Any]:
        bodies = [m.json for m in sub.on(topic) if m.payload]
        return bodies[-1]["components"] if bodies else {}

    async with collect("127.0.0.1", mosquitto.port, "#") as sub, \
            running(settings_from(tmp_path, text)):
        await sub.wait_for(lambda: {"temperature", "humidity", "pressure"} <= set(components()))
    temperature, pressure = components()["temperature"], components()["pressure"]
    assert (temperature["device_class"], temperature["unit_of_measurement"]) == (
        "temperature", "°C")
    assert pressure["unit_of_measurement"] == "hPa"
    assert temperature["expire_after"] == 600  # timeout 300 s + heartbeat 300 s
