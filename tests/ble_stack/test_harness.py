"""Proving test of tests/blemock.py: bleak's real BlueZ backend against the mock.

Also pins down the bleak behaviours the BLE driver's recovery is designed on.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
from support import blemock
from support.blemock import BlueZMock

from drivers.ble.decoders import BTHOME_UUID, RUUVI_COMPANY_ID, Advert, decode, uuid16
from gateway.core.readings import Measurement as M

ADDRESS = "AA:BB:CC:DD:EE:FF"
BTHOME = bytes.fromhex("40 01 61 02 ca 09 03 bf 13")
RUUVI = bytes.fromhex("05 12 fc 53 94 c3 7c 00 04 ff fc 04 0c ac 36 42 00 cd cb b8 33 4c 88 4f")
TIMEOUT = 5.0

Seen = tuple[BLEDevice, AdvertisementData]


def scanner(adverts: asyncio.Queue[Seen], adapter: str = "hci0") -> BleakScanner:
    return BleakScanner(lambda d, a: adverts.put_nowait((d, a)), bluez={"adapter": adapter})


async def next_advert(adverts: asyncio.Queue[Seen]) -> Seen:
    async with asyncio.timeout(TIMEOUT):
        return await adverts.get()


async def next_advert_with_data(adverts: asyncio.Queue[Seen]) -> Seen:
    """Skips the callback of a device's appearance, which comes without data."""
    device, data = await next_advert(adverts)
    while not (data.service_data or data.manufacturer_data):
        device, data = await next_advert(adverts)
    return device, data


async def test_scanner_receives_advert(bluez_mock: BlueZMock) -> None:
    bluez_mock.add_adapter("hci0")
    adverts: asyncio.Queue[Seen] = asyncio.Queue()
    async with scanner(adverts):
        bluez_mock.add_device("hci0", ADDRESS, "ATC_DDEEFF")
        bluez_mock.advertise(
            "hci0", ADDRESS, {BTHOME_UUID: BTHOME}, {RUUVI_COMPANY_ID: RUUVI}, rssi=-52
        )
        device, data = await next_advert_with_data(adverts)
    assert device.address == ADDRESS
    assert data.service_data == {BTHOME_UUID: BTHOME}
    assert data.manufacturer_data == {RUUVI_COMPANY_ID: RUUVI}
    assert (data.rssi, data.local_name) == (-52, "ATC_DDEEFF")
    decoded = decode(Advert.from_bleak(device.address, data), "bthome")
    assert decoded.measurements == (
        M("battery", 97, "%"),
        M("temperature", 25.06, "°C"),
        M("humidity", 50.55, "%"),
    )


async def test_device_appearing_during_scan_is_reported_without_data(
    bluez_mock: BlueZMock, caplog: pytest.LogCaptureFixture
) -> None:
    bluez_mock.add_adapter("hci0")
    adverts: asyncio.Queue[Seen] = asyncio.Queue()
    async with scanner(adverts):
        bluez_mock.add_device("hci0", ADDRESS, "dev")
        device, data = await next_advert(adverts)
    assert device.address == ADDRESS
    assert (data.service_data, data.manufacturer_data) == ({}, {})
    assert "has no attribute 'items'" not in caplog.text  # the template's AddDevice would


async def test_identical_advert_is_delivered_again_by_the_mock(bluez_mock: BlueZMock) -> None:
    """The mock emits PropertiesChanged every time and bleak calls back for every signal.

    A real bluetoothd emits only changed properties (bleak sets DuplicateData=False), so an
    unchanged advert with an unchanged RSSI is not delivered twice there.
    """
    bluez_mock.add_adapter("hci0")
    bluez_mock.add_device("hci0", ADDRESS, "dev")
    adverts: asyncio.Queue[Seen] = asyncio.Queue()
    async with scanner(adverts):
        for _ in range(2):
            bluez_mock.advertise("hci0", ADDRESS, {BTHOME_UUID: BTHOME}, rssi=-60)
        first = (await next_advert(adverts))[1]
        second = (await next_advert(adverts))[1]
    assert first == second
    assert first.service_data == {BTHOME_UUID: BTHOME}


async def test_adapter_removal_and_return(bluez_mock: BlueZMock) -> None:
    bluez_mock.add_adapter("hci0")
    bluez_mock.add_adapter("hci1")
    adverts: asyncio.Queue[Seen] = asyncio.Queue()
    lost = scanner(adverts)
    await lost.start()
    bluez_mock.advertise("hci0", ADDRESS, {BTHOME_UUID: BTHOME})
    await next_advert_with_data(adverts)
    assert ADDRESS in lost.discovered_devices_and_advertisement_data

    bluez_mock.remove_adapter("hci0")
    # A scan on hci1 makes D-Bus round trips on bleak's connection; their replies come after
    # the removal signals, so afterwards bleak has processed those (and hci1 is unaffected).
    async with scanner(asyncio.Queue(), "hci1"):
        pass
    # The scanner on hci0 just went quiet: no callback, no error. The devices' removal was
    # noticed (they left its list); the adapter's is reported to nobody.
    assert adverts.empty()
    assert not lost.discovered_devices_and_advertisement_data
    # Stopping fails, as the adapter object is gone.
    with pytest.raises(BleakDBusError) as info:
        await lost.stop()
    assert info.value.dbus_error == "org.freedesktop.DBus.Error.UnknownObject"
    # A scanner for the missing adapter fails at start, before any D-Bus call.
    with pytest.raises(BleakError, match="adapter 'hci0' not found"):
        await scanner(adverts).start()
    bluez_mock.add_adapter("hci0")
    # bleak learns of the new adapter from a signal it has not necessarily read yet: a driver
    # retries start() until the adapter is back, as here.
    back = scanner(adverts)
    failures = await start_with_retries(back)
    try:
        bluez_mock.advertise("hci0", ADDRESS, {BTHOME_UUID: BTHOME})
        device, data = await next_advert_with_data(adverts)
    finally:
        await back.stop()
    assert (device.address, data.service_data) == (ADDRESS, {BTHOME_UUID: BTHOME})
    assert all("adapter 'hci0' not found" in str(exc) for exc in failures)


async def test_no_adapter_at_all(bluez_mock: BlueZMock) -> None:
    with pytest.raises(BleakBluetoothNotAvailableError, match="No Bluetooth adapters found"):
        await BleakScanner(lambda d, a: None).start()
    with pytest.raises(BleakError, match="adapter 'hci0' not found"):
        await scanner(asyncio.Queue()).start()


async def test_gatt_connect_read_write_notify(bluez_mock: BlueZMock) -> None:
    environmental, temperature = uuid16(0x181A), uuid16(0x2A6E)
    bluez_mock.add_adapter("hci0")
    bluez_mock.add_device("hci0", ADDRESS, "gatt")
    char = bluez_mock.add_characteristic(
        "hci0", ADDRESS, environmental, temperature, b"\x34\x09", ("read", "write", "notify")
    )
    adverts: asyncio.Queue[Seen] = asyncio.Queue()
    async with scanner(adverts):
        bluez_mock.advertise("hci0", ADDRESS, {BTHOME_UUID: BTHOME})
        device, _ = await next_advert_with_data(adverts)
    notifications: asyncio.Queue[bytes] = asyncio.Queue()
    async with BleakClient(device, timeout=TIMEOUT) as client:
        assert [s.uuid for s in client.services] == [environmental]
        assert await client.read_gatt_char(temperature) == b"\x34\x09"
        await client.write_gatt_char(temperature, b"\x00\x01", response=True)
        assert await client.read_gatt_char(temperature) == b"\x00\x01"
        await client.start_notify(temperature, lambda _, d: notifications.put_nowait(bytes(d)))
        bluez_mock.notify(char, b"\x35\x09")
        async with asyncio.timeout(TIMEOUT):
            assert await notifications.get() == b"\x35\x09"
        await client.stop_notify(temperature)
    assert not client.is_connected


async def start_with_retries(new_scanner: BleakScanner) -> list[BleakError]:
    """Start, retrying on BleakError within TIMEOUT; returns the errors seen."""
    failures: list[BleakError] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                await new_scanner.start()
            except BleakError as exc:
                failures.append(exc)
                await asyncio.sleep(0.01)
            else:
                return failures


@pytest.mark.usefixtures("bluez_tools")
def test_a_mock_that_dies_fails_the_test_with_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    def dying_mock(bus_address: str, log_path: Path) -> subprocess.Popen[bytes]:
        del bus_address
        log_path.write_text("ImportError: no module named dbusmock\n")
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    monkeypatch.setattr(blemock, "_start_mock", dying_mock)
    with (
        pytest.raises(pytest.fail.Exception, match="exited with 3") as info,
        blemock.running_bluez_mock(),
    ):
        pass
    assert "no module named dbusmock" in str(info.value)
