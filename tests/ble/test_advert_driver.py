"""The advertisement driver with the real core Device behind it, fed adverts directly.

No scanner and no radio: adverts are built by the same encoders the decoder tests use. The
core's clock (``gateway.core.device.time``) is set by the test, so the cap and the heartbeat are
exact; published messages are read from a real memory buffer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import gateway.core.device
from drivers.ble.adverts import AdvertDriver
from drivers.ble.config import BleConfig
from drivers.ble.decoders import BTHOME_UUID, XIAOMI_UUID, Advert, build_advert
from gateway.core.device import Device
from gateway.core.readings import Measurement as M
from gateway.core.resources import SharedResources
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Entry, MemoryBuffer
from gateway.sdk import DeviceModel

ADDRESS = "A4:C1:38:00:00:01"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
ROOT = "sg/test"


class RecordingBuffer(MemoryBuffer):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []

    def put(self, entry: Entry) -> None:
        self.entries.append(entry)
        super().put(entry)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(gateway.core.device, "time", SimpleNamespace(time=clock.time,
                                                                monotonic=clock.monotonic))
    return clock


class Harness:
    def __init__(self, **options: object) -> None:
        self.config = BleConfig.model_validate({"id": "dev", "address": ADDRESS, **options})
        self.buffer = RecordingBuffer()
        self.statuses: list[bool] = []
        # The advert driver uses no shared resources: their task group is never entered (a
        # use would raise RuntimeError).
        self.device = Device(self.config, self.buffer, topics=TopicLayout(ROOT),
                             shared=SharedResources(asyncio.TaskGroup()),
                             on_status=lambda _, online: self.statuses.append(online))
        self.driver = AdvertDriver(self.config, self.device)

    def published(self, sensor: str) -> list[Any]:
        topic = f"{ROOT}/dev/{sensor}"
        return [json.loads(e.payload)["value"] for e in self.buffer.entries if e.topic == topic]


def advert(
    temperature: float, battery: float = 90, packet: int = 0, bindkey: str | None = None
) -> Advert:
    values = [M("battery", battery, "%"), M("temperature", temperature, "°C")]
    return build_advert("bthome", ADDRESS, values, packet_id=packet, bindkey=bindkey)


def test_identical_adverts_publish_once_and_keep_the_device_online(clock: Clock) -> None:
    h = Harness()
    for _ in range(3):
        h.driver.on_advert(advert(21.5))
        clock.now += 1
    assert h.published("temperature") == [21.5]
    assert h.published("battery") == [90]
    assert h.statuses == [True]
    assert h.device.last_reading == clock.now - 1  # the last repeat counted as heard


def test_only_changed_values_are_published(clock: Clock) -> None:
    h = Harness()
    h.driver.on_advert(advert(21.5, packet=1))
    clock.now += 1
    h.driver.on_advert(advert(21.5, packet=2))  # new packet id, same values
    h.driver.on_advert(advert(21.6, packet=3))
    assert h.published("temperature") == [21.5, 21.6]
    assert h.published("battery") == [90]


def test_interval_caps_changes_and_a_held_back_change_follows(clock: Clock) -> None:
    h = Harness(interval=10)
    h.driver.on_advert(advert(21.5))
    clock.now += 1
    h.driver.on_advert(advert(21.7))  # within the cap: held back
    assert h.published("temperature") == [21.5]
    clock.now += 10
    h.driver.on_advert(advert(21.7))  # the same advert again: now it goes out
    assert h.published("temperature") == [21.5, 21.7]


def test_heartbeat_republishes_unchanged_values(clock: Clock) -> None:
    h = Harness(heartbeat=60)
    h.driver.on_advert(advert(21.5))
    clock.now += 59
    h.driver.on_advert(advert(21.5))
    assert h.published("temperature") == [21.5]
    clock.now += 1
    h.driver.on_advert(advert(21.5))
    assert h.published("temperature") == [21.5, 21.5]


def test_a_deadband_from_the_config_applies(clock: Clock) -> None:
    h = Harness(deadband={"temperature": 0.5, "battery": 0})
    for t in (21.5, 21.7, 21.9, 22.1):
        h.driver.on_advert(advert(t))
        clock.now += 1
    assert h.published("temperature") == [21.5, 22.1]


def test_device_layout_publishes_every_value_when_one_changes(clock: Clock) -> None:
    h = Harness(layout="device")
    h.driver.on_advert(advert(21.5, packet=1))
    clock.now += 1
    h.driver.on_advert(advert(21.5, packet=2))
    clock.now += 1
    h.driver.on_advert(advert(21.6, packet=3))
    bodies = [json.loads(e.payload) for e in h.buffer.entries if e.topic == f"{ROOT}/dev"]
    assert [b["readings"]["temperature"]["value"] for b in bodies] == [21.5, 21.6]
    assert bodies[1]["readings"]["battery"] == {"value": 90, "unit": "%"}


def test_bad_and_foreign_adverts(clock: Clock) -> None:
    h = Harness()
    h.driver.on_advert(Advert(ADDRESS, "name only"))  # a scan response: nothing to decode
    h.driver.on_advert(Advert(ADDRESS, service_data={BTHOME_UUID: b"\x40\x02\xca"}))  # truncated
    assert h.buffer.entries == []
    assert dict(h.device.errors) == {"decode": 1}
    assert h.statuses == []  # not heard as a sensor: not online


def test_encrypted_adverts_need_the_right_key(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    sealed = advert(21.5, packet=7, bindkey=KEY)
    h = Harness(bindkey=KEY)
    h.driver.on_advert(sealed)
    assert h.published("temperature") == [21.5]
    wrong = "00" * 16
    h = Harness(bindkey=wrong)
    h.driver.on_advert(sealed)
    assert h.buffer.entries == []
    assert dict(h.device.errors) == {"decrypt": 1}
    assert wrong not in caplog.text and KEY not in caplog.text


def test_adapter_down_reports_offline_at_once(clock: Clock) -> None:
    h = Harness()
    h.driver.on_advert(advert(21.5))
    h.driver.on_down("adapter hci0 not found")
    h.driver.on_down("adapter hci0 not found")
    h.driver.on_advert(advert(21.5))
    assert h.statuses == [True, False, True]


# --- Xiaomi and the other formats of issue 13 ----------------------------------------------

# xiaomi-ble's test_Xiaomi_LYWSD03MMC_encrypted (see tests/ble_decoders/test_xiaomi.py)
LYWSD03MMC = "A4:C1:38:02:83:F4"
LYWSD03MMC_KEY = "e9ea895fac7cca6d30532432a516f3a8"
LYWSD03MMC_FRAME = bytes.fromhex(
    "58 58 5b 05 50 f4 83 02 38 c1 a4 95 ef 58 76 3c 26 00 00 97 e2 ab b5")


def xiaomi_advert() -> Advert:
    return Advert(LYWSD03MMC, service_data={XIAOMI_UUID: LYWSD03MMC_FRAME})


def test_xiaomi_with_its_bindkey_describes_the_model(clock: Clock) -> None:
    h = Harness(address=LYWSD03MMC, bindkey=LYWSD03MMC_KEY)
    assert h.device.model == DeviceModel(None, "BLE sensor")  # until an advert names it
    h.driver.on_advert(xiaomi_advert())
    assert h.published("humidity") == [46.7]
    assert h.device.model == DeviceModel("Xiaomi", "LYWSD03MMC")


def test_xiaomi_wrong_or_missing_key(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "11" * 16
    for options in ({"bindkey": wrong}, {}):
        h = Harness(address=LYWSD03MMC, **options)
        for _ in range(3):  # repeats of one advert are not decoded (nor counted) again
            h.driver.on_advert(xiaomi_advert())
        assert h.buffer.entries == []
        assert dict(h.device.errors) == {"decrypt": 1}
        assert h.statuses == []
        # the model is in the clear even when the readings are not
        assert h.device.model == DeviceModel("Xiaomi", "LYWSD03MMC")
    assert "no bindkey" in caplog.text and "wrong bindkey" in caplog.text
    assert wrong not in caplog.text and LYWSD03MMC_KEY not in caplog.text


def test_a_name_arriving_later_lets_the_advert_decode(clock: Clock) -> None:
    # Govee's company 0x0001 data is Govee's only with a Govee name (a scan response).
    data = {0x0001: bytes.fromhex("010103465464")}  # govee-ble GVH5100_SERVICE_INFO
    h = Harness()
    h.driver.on_advert(Advert(ADDRESS, None, -60, {}, data))
    assert h.buffer.entries == [] and dict(h.device.errors) == {}
    h.driver.on_advert(Advert(ADDRESS, "GVH5100_7738", -60, {}, data))
    assert h.published("temperature") == [21.4]
    assert h.device.model == DeviceModel("Govee", "H5100")


def test_bindkey_from_a_file_and_from_the_environment(
    clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "lywsd03mmc.key"
    key_file.write_text(LYWSD03MMC_KEY + "\n")
    monkeypatch.setenv("LYWSD03MMC_KEY", LYWSD03MMC_KEY.upper())
    for options in ({"bindkey_file": str(key_file)}, {"bindkey_env": "LYWSD03MMC_KEY"}):
        h = Harness(address=LYWSD03MMC, **options)
        h.driver.on_advert(xiaomi_advert())
        assert h.published("humidity") == [46.7]
