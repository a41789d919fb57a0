"""GATT mode end to end: bleak-retry-connector + bleak's BlueZ backend -> driver -> Mosquitto.

The peripheral is python-dbusmock's bluez5 template with GattService1/GattCharacteristic1
objects (tests/support/blemock.py). What the mock does not model: the GATT objects exist before
the connection (bluetoothd creates them on connect), and a disconnect is only what the test
makes it (``Connected`` false); there is no link layer, so no supervision timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.blemock import BlueZMock
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect
from support.wait import until

from drivers.ble.decoders import BTHOME_UUID, uuid16

ADDRESS = "C4:7C:8D:6A:11:22"
ESS, BATTERY_SERVICE = uuid16(0x181A), uuid16(0x180F)
TEMPERATURE, HUMIDITY, PRESSURE, BATTERY = (uuid16(u) for u in (0x2A6E, 0x2A6F, 0x2A6D, 0x2A19))
CUSTOM_SERVICE = "12345678-1234-5678-1234-56789abcdef0"
CO2 = "12345678-1234-5678-1234-56789abcdef1"


def gatt_device(extra: str = "", connect_timeout: float = 5) -> str:
    return (f'[[devices]]\nid = "g"\ndriver = "ble"\naddress = "{ADDRESS}"\nmode = "gatt"\n'
            f"connect_timeout = {connect_timeout}\n{extra}\n")


def peripheral(mock: BlueZMock) -> dict[str, str]:
    """A sensor with the standard characteristics and one custom CO2 one; their paths."""
    mock.add_adapter("hci0")
    mock.add_device("hci0", ADDRESS, "EnvSensor")
    return {
        "temperature": mock.add_characteristic("hci0", ADDRESS, ESS, TEMPERATURE,
                                               struct.pack("<h", 2150)),
        "humidity": mock.add_characteristic("hci0", ADDRESS, ESS, HUMIDITY,
                                            struct.pack("<H", 4875)),
        "pressure": mock.add_characteristic("hci0", ADDRESS, ESS, PRESSURE,
                                            struct.pack("<I", 1013250)),
        "battery": mock.add_characteristic("hci0", ADDRESS, BATTERY_SERVICE, BATTERY, b"\x5a"),
        "co2": mock.add_characteristic("hci0", ADDRESS, CUSTOM_SERVICE, CO2,
                                       struct.pack("<H", 612)),
    }


@contextlib.asynccontextmanager
async def advertising(mock: BlueZMock) -> AsyncIterator[None]:
    """The peripheral advertises (connectable sensors do), so the shared scanner sees it."""
    async def loop() -> None:
        rssi = -60
        while True:
            rssi = -60 if rssi != -60 else -61
            with contextlib.suppress(Exception):
                mock.advertise("hci0", ADDRESS, {BTHOME_UUID: b"\x40"}, rssi=rssi)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(loop(), name="test-gatt-advertiser")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def latest(sub: Collector, topic: str) -> tuple[float, str | None] | None:
    msgs = sub.on(topic)
    return (msgs[-1].json["value"], msgs[-1].json["unit"]) if msgs else None


async def test_gatt_polls_standard_and_custom_characteristics(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    chars = peripheral(bluez_mock)
    root = "sensor-gateway/ble-gatt"
    custom = (f'characteristics = [{{ uuid = "{CO2}", name = "co2", format = "<H", '
              'unit = "ppm" }]\ninterval = 0.2')
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-gatt") + gatt_device(custom))
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertising(bluez_mock)):
        names = ("temperature", "humidity", "pressure", "battery", "co2")
        await sub.wait_for(lambda: all(latest(sub, f"{root}/g/{n}") for n in names), timeout=20)
        assert latest(sub, f"{root}/g/temperature") == (21.5, "°C")
        assert latest(sub, f"{root}/g/humidity") == (48.75, "%")
        assert latest(sub, f"{root}/g/pressure") == (1013.25, "hPa")
        assert latest(sub, f"{root}/g/battery") == (90, "%")
        assert latest(sub, f"{root}/g/co2") == (612, "ppm")
        # Polling: a new value is read on the next poll.
        bluez_mock.notify(chars["temperature"], struct.pack("<h", -512))
        await sub.wait_for(lambda: latest(sub, f"{root}/g/temperature") == (-5.12, "°C"))
        assert sub.on(f"{root}/g/status")[-1].text == "online"


async def test_gatt_notifications_and_reconnect_after_disconnect(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    chars = peripheral(bluez_mock)
    root = "sensor-gateway/ble-gatt-notify"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-gatt-notify")
                             + gatt_device("notify = true"))
    status = f"{root}/g/status"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertising(bluez_mock)):
        await sub.wait_for(lambda: latest(sub, f"{root}/g/temperature") == (21.5, "°C"),
                           timeout=20)
        await until(lambda: bluez_mock.notifying(chars["humidity"]), timeout=10)  # subscribed
        bluez_mock.notify(chars["humidity"], struct.pack("<H", 5000))
        await sub.wait_for(lambda: latest(sub, f"{root}/g/humidity") == (50.0, "%"))
        # The peripheral drops the link: offline, then reconnected by the supervisor.
        bluez_mock.drop_link(ADDRESS)
        await sub.wait_for(lambda: sub.on(status)[-1].text == "offline")
        await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=20)
        await until(lambda: bluez_mock.notifying(chars["temperature"]), timeout=10)
        bluez_mock.notify(chars["temperature"], struct.pack("<h", 2300))
        await sub.wait_for(lambda: latest(sub, f"{root}/g/temperature") == (23.0, "°C"))


async def test_gatt_connect_failures_are_retried_until_the_device_accepts(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The peripheral refuses connections (Device1.Connect answers org.bluez.Error.Failed,
    as BlueZ does for an aborted LE connection), then accepts them."""
    peripheral(bluez_mock)
    device = bluez_mock.mock_object(bluez_mock.device_path("hci0", ADDRESS))
    device.AddMethod("org.bluez.Device1", "Connect", "", "",
                     "raise dbus.exceptions.DBusException('le-connection-abort-by-local', "
                     "name='org.bluez.Error.Failed')")
    root = "sensor-gateway/ble-gatt-refuse"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-gatt-refuse")
                             + gatt_device(connect_timeout=2))
    status = f"{root}/g/status"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertising(bluez_mock)):
        await sub.wait_for(lambda: sub.on(status) and sub.on(status)[-1].text == "offline",
                           timeout=30)
        assert "cannot connect to C4:7C:8D:6A:11:22" in caplog.text
        assert not sub.on(f"{root}/g/temperature")
        device.AddMethod("org.bluez.Device1", "Connect", "", "",
                         "self.UpdateProperties('org.bluez.Device1', "
                         "{'Connected': dbus.Boolean(True), 'ServicesResolved': dbus.Boolean(True)})")
        await sub.wait_for(lambda: latest(sub, f"{root}/g/temperature") == (21.5, "°C"),
                           timeout=30)
        assert sub.on(status)[-1].text == "online"
