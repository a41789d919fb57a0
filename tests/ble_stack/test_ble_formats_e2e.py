"""Every advert format of issue 13 end to end: bleak's real BlueZ backend -> driver -> Mosquitto.

BlueZ is python-dbusmock's bluez5 template on a private D-Bus (tests/support/blemock.py): the
only stand-in, since there is no radio here. Each device's advert (a published vector, see
tests/ble_decoders/) is set as ServiceData / ManufacturerData (and, where a format needs
them, the advertised name and service UUIDs) on a mocked device; every device is configured
with just its address (and bindkey): ``decoder = "auto"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.blemock import BlueZMock
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect

from drivers.ble.decoders import (
    ARANET_COMPANY_ID,
    BLUEMAESTRO_COMPANY_ID,
    GOVEE_COMPANY_ID,
    QINGPING_UUID,
    SENSORPUSH_UUID,
    SWITCHBOT_COMPANY_ID,
    THERMOBEACON_UUID,
    XIAOMI_UUID,
    encode_mibeacon,
    uuid16,
)
from gateway.core.readings import Measurement as M

# xiaomi-ble's test_Xiaomi_LYWSD03MMC_encrypted: humidity 46.7 % under this key
LYWSD03MMC = "A4:C1:38:02:83:F4"
LYWSD03MMC_KEY = "e9ea895fac7cca6d30532432a516f3a8"
LYWSD03MMC_HUMIDITY = bytes.fromhex(
    "58 58 5b 05 50 f4 83 02 38 c1 a4 95 ef 58 76 3c 26 00 00 97 e2 ab b5")
# A stock LYWSD03MMC sends one object per frame; these two are encrypted with the same key
# by our encoder (whose output the published frame above checks in the decoder tests).
LYWSD03MMC_TEMPERATURE = encode_mibeacon([M("temperature", -4.3, "°C")], device_type=0x055B,
                                         mac=LYWSD03MMC, counter=0x2651, bindkey=LYWSD03MMC_KEY)
LYWSD03MMC_BATTERY = encode_mibeacon([M("battery", 87, "%")], device_type=0x055B,
                                     mac=LYWSD03MMC, counter=0x2652, bindkey=LYWSD03MMC_KEY)
# govee-ble GVH5075_SERVICE_INFO_2 and ble_monitor's test_qingping_CGG1
GOVEE_H5075 = "A4:C1:38:DD:DB:F8"
QINGPING_CGG1 = "58:2D:34:10:44:B2"


@dataclass
class Sensor:
    """One mocked device and the advert(s) it keeps sending (in turn)."""

    address: str
    name: str | None = None
    service: Sequence[Mapping[str, bytes]] = ({},)
    manufacturer: Mapping[int, bytes] = field(default_factory=dict)
    uuids: Sequence[str] = ()


async def broadcast(mock: BlueZMock, sensors: Sequence[Sensor]) -> None:
    """Every sensor advertises every 0.2 s (RSSI alternating: bluetoothd reports changes)."""
    for s in sensors:
        mock.add_device("hci0", s.address, s.name)
    turn = 0
    while True:
        for s in sensors:
            with contextlib.suppress(Exception):  # a D-Bus hiccup: the next round sends again
                mock.advertise("hci0", s.address, s.service[turn % len(s.service)],
                               s.manufacturer, rssi=-60 - turn % 2, uuids=s.uuids)
        turn += 1
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def broadcasting(mock: BlueZMock, sensors: Sequence[Sensor]) -> AsyncIterator[None]:
    task = asyncio.create_task(broadcast(mock, sensors), name="test-broadcast")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ble_device(device_id: str, address: str, extra: str = "") -> str:
    return f'[[devices]]\nid = "{device_id}"\ndriver = "ble"\naddress = "{address}"\n{extra}\n'


def latest(sub: Collector, topic: str) -> tuple[float, str | None] | None:
    msgs = sub.on(topic)
    return (msgs[-1].json["value"], msgs[-1].json["unit"]) if msgs else None


def hexs(text: str) -> bytes:
    return bytes.fromhex(text)


SENSORS: dict[str, tuple[Sensor, str, dict[str, tuple[float, str | None]]]] = {
    # device id: (the mocked device, extra config, expected readings)
    "lywsd03": (Sensor(LYWSD03MMC, service=[{XIAOMI_UUID: LYWSD03MMC_HUMIDITY},
                                           {XIAOMI_UUID: LYWSD03MMC_TEMPERATURE},
                                           {XIAOMI_UUID: LYWSD03MMC_BATTERY}]),
                f'bindkey = "{LYWSD03MMC_KEY}"',
                {"humidity": (46.7, "%"), "temperature": (-4.3, "°C"), "battery": (87, "%")}),
    "miflora": (Sensor("C4:7C:8D:00:01:5D", service=[{XIAOMI_UUID: hexs(  # xiaomi-ble HHCCPOT002
        "71 20 5d 01 01 5d 01 00 8d 7c c4 0d 08 10 01 40 09 10 02 57 02")}]), "",
                {"moisture": (64, "%"), "conductivity": (599, "µS/cm")}),
    "cgp1w": (Sensor("58:2D:34:40:1C:6F", service=[{QINGPING_UUID: hexs(  # ble_monitor CGP1W
        "08 09 6f 1c 40 34 2d 58 01 04 be 00 0d 02 07 02 72 26 02 01 57")}]), "",
              {"temperature": (19.0, "°C"), "pressure": (984.2, "hPa"), "battery": (87, "%")}),
    "meter": (Sensor("AA:BB:CC:DD:EE:11", service=[{uuid16(0xFD3D): hexs("54 00 e4 06 98 35")}],
                     manufacturer={SWITCHBOT_COMPANY_ID: hexs(  # pySwitchbot, Meter
                         "d7 c1 7d 5d eb 43 de 03 06 98 35")}), "",
              {"temperature": (24.6, "°C"), "humidity": (53, "%"), "battery": (100, "%")}),
    "h5106": (Sensor("CC:32:37:35:4E:05", "GVH5106_4E05",  # govee-ble, freezing
                     manufacturer={0x0001: hexs("01 01 81 86 7c d8")}), "",
              {"temperature": (-2.5, "°C"), "pm25": (0, "µg/m³")}),
    "ibs-th": (Sensor("AA:BB:CC:DD:EE:12", "sps", manufacturer={  # inkbird-ble, sps
        0x07FC: hexs("c7 12 00 c8 3d 56 06")}, uuids=[uuid16(0xFFF0)]), "",
               {"temperature": (20.44, "°C"), "humidity": (48.07, "%")}),
    "thermobeacon": (Sensor("AA:BB:CC:DD:EE:13", "ThermoBeacon", manufacturer={  # MFR_16_LEN_18
        0x10: hexs("00 00 9c 0d 00 00 fe 44 45 0c c5 01 87 02 17 00 00 00")},
                            uuids=[THERMOBEACON_UUID]), "",
                     {"temperature": (28.3125, "°C"), "voltage": (3.141, "V")}),
    "htw": (Sensor("AA:BB:CC:DD:EE:14", "SensorPush HT.w 0CA1", manufacturer={  # test_ht_w
        0x9A04: hexs("c9 a5 46")}, uuids=[SENSORPUSH_UUID]), "",
            {"temperature": (20.53, "°C"), "humidity": (44.9, "%")}),
    "tempo": (Sensor("E0:12:1D:61:BB:AA", manufacturer={  # ble_monitor test_BlueMaestro_THD
        BLUEMAESTRO_COMPANY_ID: hexs("17 55 0e 10 06 1e ff 2f 02 a6 ff 03 01 00")}), "",
              {"temperature": (-20.9, "°C"), "dew_point": (-25.3, "°C")}),
    "aranet": (Sensor("AA:BB:CC:DD:EE:15", "Aranet4 12345", manufacturer={  # Aranet4-Python
        ARANET_COMPANY_ID: hexs(
            "21 05 03 01 00 05 00 01 43 04 9f 01 8b 27 35 0c 02 3c 00 10 00 55")}), "",
               {"co2": (1091, "ppm"), "temperature": (20.75, "°C"), "pressure": (1012.3, "hPa")}),
}


async def test_every_format_with_decoder_auto(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    bluez_mock.add_adapter("hci0")
    root = "sensor-gateway/ble-formats"
    text = base_config(mosquitto.port, "ble-formats") + "".join(
        ble_device(device_id, sensor.address, extra)
        for device_id, (sensor, extra, _) in SENSORS.items())
    expected = {f"{root}/{d}/{name}": value for d, (_, _, readings) in SENSORS.items()
                for name, value in readings.items()}
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings_from(tmp_path, text)),
                broadcasting(bluez_mock, [sensor for sensor, _, _ in SENSORS.values()])):
        await sub.wait_for(lambda: all(latest(sub, t) for t in expected), timeout=30)
    got = {topic: latest(sub, topic) for topic in expected}
    assert got == expected
    assert not sub.under(f"{root}/lywsd03/errors")


async def test_done_when_lywsd03mmc_h5075_cgg1_with_just_their_address(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 13's "done when": three [[devices]] blocks with just address (and bindkey, here
    from the environment); values and units on MQTT, and Home Assistant discovery naming
    each device's manufacturer and model."""
    bluez_mock.add_adapter("hci0")
    monkeypatch.setenv("SG_TEST_LYWSD03MMC_KEY", LYWSD03MMC_KEY)
    root, prefix = "sensor-gateway/ble-done", "homeassistant/device/ble-done"
    text = (base_config(mosquitto.port, "ble-done", "[homeassistant]\ndiscovery = true\n")
            + ble_device("bedroom", LYWSD03MMC, 'bindkey_env = "SG_TEST_LYWSD03MMC_KEY"')
            + ble_device("hall", GOVEE_H5075) + ble_device("office", QINGPING_CGG1))
    sensors = [
        SENSORS["lywsd03"][0],
        Sensor(GOVEE_H5075, "GVH5075_DBF8", manufacturer={GOVEE_COMPANY_ID: hexs(
            "00 03 4d b2 64 00")}),
        Sensor(QINGPING_CGG1, service=[{QINGPING_UUID: hexs(
            "08 07 b2 44 10 34 2d 58 01 04 ca 00 45 02 02 01 38")}]),
    ]
    expected = {
        "bedroom": {"temperature": (-4.3, "°C"), "humidity": (46.7, "%"),
                    "battery": (87, "%")},
        "hall": {"temperature": (21.6, "°C"), "humidity": (49.8, "%"), "battery": (100, "%")},
        "office": {"temperature": (20.2, "°C"), "humidity": (58.1, "%"), "battery": (56, "%")},
    }
    models = {"bedroom": ("Xiaomi", "LYWSD03MMC"), "hall": ("Govee", "H5075"),
              "office": ("Qingping", "CGG1")}

    def discovered(device_id: str) -> dict[str, object] | None:
        msgs = [m for m in ha.on(f"{prefix}_{device_id}/config") if m.payload]
        body = json.loads(msgs[-1].payload) if msgs else None
        if body is None or len(body["components"]) < len(expected[device_id]):
            return None
        device = body["device"]
        return body if (device.get("manufacturer"), device["model"]) == models[device_id] \
            else None

    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                collect("127.0.0.1", mosquitto.port, "homeassistant/device/+/config") as ha,
                running(settings_from(tmp_path, text)), broadcasting(bluez_mock, sensors)):
        await sub.wait_for(lambda: all(
            latest(sub, f"{root}/{d}/{n}") for d, readings in expected.items()
            for n in readings), timeout=30)
        await ha.wait_for(lambda: all(discovered(d) for d in expected))
    for device_id, readings in expected.items():
        for name, value in readings.items():
            assert latest(sub, f"{root}/{device_id}/{name}") == value, (device_id, name)
        body = discovered(device_id)
        assert body is not None
        components = body["components"]
        assert isinstance(components, dict)
        temperature = next(c for c in components.values() if c["state_topic"].endswith(
            "/temperature"))
        assert (temperature["device_class"], temperature["unit_of_measurement"]) == (
            "temperature", "°C")
        battery = next(c for c in components.values() if c["state_topic"].endswith("/battery"))
        assert (battery["device_class"], battery["unit_of_measurement"]) == ("battery", "%")
    assert LYWSD03MMC_KEY not in caplog.text
