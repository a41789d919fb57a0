"""The BLE driver end to end: bleak's real BlueZ backend -> driver -> real Mosquitto.

BlueZ itself is python-dbusmock's bluez5 template on a private D-Bus (tests/support/blemock.py):
the only stand-in, since there is no radio here. Adverts are set on mocked devices; adapter
loss is a real removal of the adapter object (``RemoveAdapterWithDevices``) or its ``Powered``
property going false, as bluetoothd reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.blemock import BlueZMock
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect

from drivers.ble.decoders import BTHOME_UUID, RUUVI_COMPANY_ID

ADDRESS = "AA:BB:CC:DD:EE:01"
BTHOME = bytes.fromhex("40 01 61 02 ca 09 03 bf 13")
BTHOME_WARMER = bytes.fromhex("40 01 61 02 cb 09 03 bf 13")  # 25.07 °C
RUUVI = bytes.fromhex("05 12 fc 53 94 c3 7c 00 04 ff fc 04 0c ac 36 42 00 cd cb b8 33 4c 88 4f")
# bthome-ble's published encryption example (see tests/ble_decoders/test_bthome.py).
KEY = "231d39c1d7cc1ab1aee224cd096db932"
KEY_SENDER = "54:48:E6:8F:80:A5"
SEALED = bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")
RECOVERY = 30.0  # the bound: back within 30 s of the adapter's return


def ble_device(device_id: str, address: str, extra: str = "") -> str:
    return f'[[devices]]\nid = "{device_id}"\ndriver = "ble"\naddress = "{address}"\n{extra}\n'


class Advertiser:
    """Keeps a mocked device advertising (as a real sensor does) while enabled."""

    def __init__(self, mock: BlueZMock, address: str, adapter: str = "hci0") -> None:
        self.mock = mock
        self.address = address
        self.adapter = adapter
        self.service_data: Mapping[str, bytes] | None = None
        self.manufacturer_data: Mapping[int, bytes] | None = None
        self.enabled = asyncio.Event()

    def send(self, service_data: Mapping[str, bytes] | None = None,
             manufacturer_data: Mapping[int, bytes] | None = None) -> None:
        self.service_data, self.manufacturer_data = service_data, manufacturer_data
        self.enabled.set()

    def stop(self) -> None:
        self.enabled.clear()

    async def run(self) -> None:
        rssi = -60
        while True:
            await self.enabled.wait()
            rssi = -60 if rssi != -60 else -61  # bluetoothd reports changes only
            with contextlib.suppress(Exception):  # the adapter may be gone this instant
                self.mock.advertise(self.adapter, self.address, self.service_data,
                                    self.manufacturer_data, rssi=rssi)
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def advertiser(mock: BlueZMock, address: str = ADDRESS) -> AsyncIterator[Advertiser]:
    adv = Advertiser(mock, address)
    task = asyncio.create_task(adv.run(), name="test-advertiser")
    try:
        yield adv
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def discovery_filter(mock: BlueZMock, adapter: str) -> dict[str, object]:
    """What the scanner passed to Adapter1.SetDiscoveryFilter (the mock stores it)."""
    import dbus

    bus = dbus.bus.BusConnection(mock.bus_address)
    try:
        props = dbus.Interface(bus.get_object("org.bluez", f"/org/bluez/{adapter}"),
                               "org.freedesktop.DBus.Properties")
        return dict(props.Get("org.bluez.Adapter1", "DiscoveryFilter"))
    finally:
        bus.close()


def values(sub: Collector, topic: str) -> list[tuple[float, str | None]]:
    return [(m.json["value"], m.json["unit"]) for m in sub.on(topic)]


def last_status(sub: Collector, topic: str) -> str | None:
    msgs = sub.on(topic)
    return msgs[-1].text if msgs else None


@dataclass
class Online:
    """A BTHome device on hci0 that the running gateway has reported online."""

    sub: Collector
    bt: Advertiser
    root: str
    status: str


@contextlib.asynccontextmanager
async def online_device(
    mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path, name: str, extra: str = ""
) -> AsyncIterator[Online]:
    root = f"sensor-gateway/{name}"
    settings = settings_from(tmp_path, base_config(mosquitto.port, name)
                             + ble_device("bt", ADDRESS, extra))
    status = f"{root}/bt/status"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(mock) as bt):
        bt.send({BTHOME_UUID: BTHOME})
        await sub.wait_for(lambda: last_status(sub, status) == "online")
        yield Online(sub, bt, root, status)


async def test_bthome_and_ruuvi_vectors_arrive_on_mqtt(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    bluez_mock.add_adapter("hci0")
    ruuvi_address = "C6:3A:A0:00:00:02"
    root = "sensor-gateway/ble-vectors"
    text = (base_config(mosquitto.port, "ble-vectors") + ble_device("bt", ADDRESS)
            + ble_device("ruuvi", ruuvi_address, 'decoder = "ruuvi"'))
    settings = settings_from(tmp_path, text)
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(bluez_mock) as bt,
                advertiser(bluez_mock, ruuvi_address) as ruuvi):
        bt.send({BTHOME_UUID: BTHOME})
        ruuvi.send(manufacturer_data={RUUVI_COMPANY_ID: RUUVI})
        await sub.wait_for(lambda: sub.on(f"{root}/ruuvi/movement_counter")
                           and sub.on(f"{root}/bt/humidity"))
        assert last_status(sub, f"{root}/bt/status") == "online"
        # BlueZ is asked for every advert (unchanged ones too), so stable sensors stay heard.
        assert discovery_filter(bluez_mock, "hci0").get("DuplicateData") == True  # noqa: E712 - a dbus.Boolean
    assert values(sub, f"{root}/bt/battery")[0] == (97, "%")
    assert values(sub, f"{root}/bt/temperature")[0] == (25.06, "°C")
    assert values(sub, f"{root}/bt/humidity")[0] == (50.55, "%")
    assert values(sub, f"{root}/ruuvi/temperature")[0] == (24.3, "°C")
    assert values(sub, f"{root}/ruuvi/humidity")[0] == (53.49, "%")
    assert values(sub, f"{root}/ruuvi/pressure")[0] == (1000.44, "hPa")
    assert values(sub, f"{root}/ruuvi/voltage")[0] == (2.977, "V")
    assert values(sub, f"{root}/ruuvi/movement_counter")[0] == (66, None)
    # The same advert over and over (RSSI changing) is published once: no heartbeat due yet.
    assert len(sub.on(f"{root}/bt/temperature")) == 1


async def test_encrypted_bthome_with_bindkey(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bluez_mock.add_adapter("hci0")
    root = "sensor-gateway/ble-enc"
    text = (base_config(mosquitto.port, "ble-enc")
            + ble_device("enc", KEY_SENDER, f'bindkey = "{KEY}"')
            + ble_device("nokey", ADDRESS))
    settings = settings_from(tmp_path, text)
    caplog.set_level(logging.DEBUG)
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(bluez_mock, KEY_SENDER) as enc,
                advertiser(bluez_mock) as nokey):
        enc.send({BTHOME_UUID: SEALED})
        nokey.send({BTHOME_UUID: SEALED})  # encrypted, but this device has no key
        await sub.wait_for(lambda: sub.on(f"{root}/enc/humidity"))
        await asyncio.sleep(0)
    assert values(sub, f"{root}/enc/temperature") == [(25.06, "°C")]
    assert values(sub, f"{root}/enc/humidity") == [(50.55, "%")]
    assert not sub.under(f"{root}/nokey/temperature")
    assert KEY not in caplog.text


async def test_adapter_removed_and_back_recovers_by_itself(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bluez_mock.add_adapter("hci0")
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-unplug") as dev:
        sub, bt, root, status = dev.sub, dev.bt, dev.root, dev.status
        bt.stop()
        bluez_mock.remove_adapter("hci0")
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "adapter hci0 not found" in caplog.text
        bluez_mock.add_adapter("hci0")
        bt.send({BTHOME_UUID: BTHOME_WARMER})
        await sub.wait_for(lambda: last_status(sub, status) == "online", timeout=RECOVERY)
        await sub.wait_for(lambda: (25.07, "°C") in values(sub, f"{root}/bt/temperature"))
        assert [m.text for m in sub.on(status)] == ["online", "offline", "online"]


async def test_adapter_powered_off_and_on(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    power = bluez_mock.mock_object(bluez_mock.add_adapter("hci0"))
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-power") as dev:
        sub, status = dev.sub, dev.status
        power.UpdateProperties("org.bluez.Adapter1", {"Powered": False})
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "adapter hci0 is powered off" in caplog.text
        power.UpdateProperties("org.bluez.Adapter1", {"Powered": True})
        await sub.wait_for(lambda: last_status(sub, status) == "online", timeout=RECOVERY)


async def test_adapter_missing_at_start_then_plugged_in(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = "sensor-gateway/ble-late"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-late")
                             + ble_device("bt", ADDRESS, 'adapter = "hci1"'))
    status = f"{root}/bt/status"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings)):
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "adapter hci1 not found" in caplog.text
        bluez_mock.add_adapter("hci1")
        adv = Advertiser(bluez_mock, ADDRESS, "hci1")
        task = asyncio.create_task(adv.run(), name="test-advertiser")
        try:
            adv.send({BTHOME_UUID: BTHOME})
            await sub.wait_for(lambda: sub.on(f"{root}/bt/temperature"), timeout=RECOVERY)
            await sub.wait_for(lambda: last_status(sub, status) == "online")
        finally:
            task.cancel()


async def test_device_that_stops_advertising_goes_offline_after_timeout(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    bluez_mock.add_adapter("hci0")
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-silent",
                             "timeout = 1.5") as dev:
        sub, bt, status = dev.sub, dev.bt, dev.status
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        bt.stop()
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert loop.time() - stopped >= 1.4  # not before the timeout
        bt.send({BTHOME_UUID: BTHOME})  # back in range: online again, without a restart
        await sub.wait_for(lambda: last_status(sub, status) == "online")


async def test_heartbeat_republishes_an_unchanged_value(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    bluez_mock.add_adapter("hci0")
    root = "sensor-gateway/ble-heartbeat"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-heartbeat")
                             + ble_device("bt", ADDRESS, "heartbeat = 0.5"))
    topic = f"{root}/bt/temperature"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(bluez_mock) as bt):
        bt.send({BTHOME_UUID: BTHOME})
        await sub.wait_for(lambda: len(sub.on(topic)) >= 3)
    assert {v for v, _ in values(sub, topic)} == {25.06}


async def test_no_dbus_at_all_gives_a_clear_message(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No mock here: a machine without a system bus (a laptop, a container)."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    root = "sensor-gateway/ble-nodbus"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-nodbus")
                             + ble_device("bt", ADDRESS))
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings)):
        await sub.wait_for(lambda: last_status(sub, f"{root}/bt/status") == "offline")
    assert "no D-Bus system bus" in caplog.text
    assert 'adapter = "simulated"' in caplog.text
    assert "Traceback" not in caplog.text


async def test_in_progress_errors_are_retried_until_the_adapter_is_free(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """BlueZ answering StartDiscovery with org.bluez.Error.InProgress (bleak #1603): the method
    of the mocked adapter is replaced by one that raises it, then restored."""
    adapter = bluez_mock.mock_object(bluez_mock.add_adapter("hci0"))
    adapter.AddMethod("org.bluez.Adapter1", "StartDiscovery", "", "",
                      "raise dbus.exceptions.DBusException('Operation already in progress', "
                      "name='org.bluez.Error.InProgress')")
    root = "sensor-gateway/ble-busy"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-busy")
                             + ble_device("bt", ADDRESS))
    status = f"{root}/bt/status"
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(bluez_mock) as bt):
        bt.send({BTHOME_UUID: BTHOME})
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "InProgress" in caplog.text
        assert not sub.on(f"{root}/bt/temperature")
        adapter.AddMethod("org.bluez.Adapter1", "StartDiscovery", "", "",
                          "self.props['org.bluez.Adapter1']['Discovering'] = True")
        await sub.wait_for(lambda: sub.on(f"{root}/bt/temperature"), timeout=RECOVERY)
        assert last_status(sub, status) == "online"


async def test_silent_adapter_is_restarted_and_its_devices_reported_offline(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No advert from anyone for adapter_silence seconds (a wedged adapter looks like this):
    the scan is restarted and the devices are offline before their own timeout."""
    caplog.set_level(logging.INFO, "drivers.ble")
    bluez_mock.add_adapter("hci0")
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-wedge",
                             "adapter_silence = 1\ntimeout = 600") as dev:
        sub, bt, status = dev.sub, dev.bt, dev.status
        scans_before = caplog.text.count("BLE adapter hci0: scanning")
        bt.stop()
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "no advertisement from any device" in caplog.text
        bt.send({BTHOME_UUID: BTHOME_WARMER})
        await sub.wait_for(lambda: last_status(sub, status) == "online", timeout=RECOVERY)
        assert caplog.text.count("BLE adapter hci0: scanning") > scans_before  # restarted


async def test_bluetoothd_restart_is_survived(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """bluetoothd dies (org.bluez leaves the bus) and starts again with the adapter back."""
    bluez_mock.add_adapter("hci0")
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-bluetoothd") as dev:
        sub, bt, root, status = dev.sub, dev.bt, dev.root, dev.status
        bt.stop()
        bluez_mock.stop_bluez()
        await sub.wait_for(lambda: last_status(sub, status) == "offline")
        assert "BlueZ (bluetoothd) is not running" in caplog.text
        bluez_mock.start_bluez()
        bluez_mock.add_adapter("hci0")
        bt.send({BTHOME_UUID: BTHOME_WARMER})
        await sub.wait_for(lambda: (25.07, "°C") in values(sub, f"{root}/bt/temperature"),
                           timeout=RECOVERY)
        assert last_status(sub, status) == "online"


async def test_hung_bluetoothd_is_noticed_and_survived(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """bluetoothd stops answering (the mock process is SIGSTOPped), then resumes (SIGCONT)."""
    bluez_mock.add_adapter("hci0")
    assert bluez_mock.process is not None
    async with online_device(bluez_mock, mosquitto, tmp_path, "ble-hung") as dev:
        sub, bt, root, status = dev.sub, dev.bt, dev.root, dev.status
        bt.stop()
        bluez_mock.process.send_signal(signal.SIGSTOP)
        try:
            await sub.wait_for(lambda: last_status(sub, status) == "offline", timeout=20)
            assert "BlueZ did not answer" in caplog.text
        finally:
            bluez_mock.process.send_signal(signal.SIGCONT)
        bt.send({BTHOME_UUID: BTHOME_WARMER})
        await sub.wait_for(lambda: (25.07, "°C") in values(sub, f"{root}/bt/temperature"),
                           timeout=RECOVERY)
        assert last_status(sub, status) == "online"


async def test_passive_scanning(
    bluez_mock: BlueZMock, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """scanning = "passive" registers an advertisement monitor with BlueZ's
    AdvertisementMonitorManager1 (the mock accepts it but does not filter by its patterns)."""
    bluez_mock.add_adapter("hci0")
    root = "sensor-gateway/ble-passive"
    settings = settings_from(tmp_path, base_config(mosquitto.port, "ble-passive")
                             + ble_device("bt", ADDRESS, 'scanning = "passive"'))
    async with (collect("127.0.0.1", mosquitto.port, f"{root}/#") as sub,
                running(settings), advertiser(bluez_mock) as bt):
        bt.send({BTHOME_UUID: BTHOME})
        await sub.wait_for(lambda: values(sub, f"{root}/bt/temperature") == [(25.06, "°C")])
