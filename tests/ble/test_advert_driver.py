"""The advertisement driver's publishing rules, fed adverts directly (no scanner, no radio).

The context is a recording implementation of DeviceContext; the clock is the driver's
``time.monotonic``, set by the test so the cap and heartbeat are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from drivers import ble
from drivers.ble import AdvertDriver, BleConfig
from drivers.ble_decoders import BTHOME_UUID, Advert, build_advert
from gateway.readings import Measurement as M

ADDRESS = "A4:C1:38:00:00:01"
KEY = "231d39c1d7cc1ab1aee224cd096db932"


class Recorder:
    device_id = "dev"
    log = logging.LoggerAdapter(logging.getLogger("test"), {})

    def __init__(self) -> None:
        self.emitted: list[list[M]] = []
        self.alive_calls = 0
        self.offline_reasons: list[str] = []
        self.errors: list[tuple[str, str]] = []

    def emit(self, measurements: Iterable[M], ts: float | None = None) -> None:
        self.emitted.append(list(measurements))

    def alive(self) -> None:
        self.alive_calls += 1

    def offline(self, reason: str) -> None:
        self.offline_reasons.append(reason)

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors.append((kind, detail))

    def shared(self, key: Hashable, factory: Callable[[], Any]) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ble.time, "monotonic", clock)
    return clock


def driver(**options: Any) -> tuple[AdvertDriver, Recorder]:
    ctx = Recorder()
    config = BleConfig(id="dev", address=ADDRESS, **options)
    return AdvertDriver(config, ctx), ctx


def advert(temperature: float, battery: float = 90, packet: int = 0, **kw: Any) -> Advert:
    values = [M("battery", battery, "%"), M("temperature", temperature, "°C")]
    return build_advert("bthome", ADDRESS, values, packet_id=packet, **kw)


def test_identical_adverts_publish_once(clock: Clock) -> None:
    drv, ctx = driver()
    for _ in range(3):
        drv.on_advert(advert(21.5))
        clock.now += 1
    assert ctx.emitted == [[M("battery", 90, "%"), M("temperature", 21.5, "°C")]]
    assert ctx.alive_calls == 2


def test_only_changed_values_are_published(clock: Clock) -> None:
    drv, ctx = driver()
    drv.on_advert(advert(21.5, packet=1))
    clock.now += 1
    drv.on_advert(advert(21.5, packet=2))  # new packet, same values: nothing new
    drv.on_advert(advert(21.6, packet=3))
    assert ctx.emitted[1:] == [[M("temperature", 21.6, "°C")]]


def test_interval_caps_changes_and_defers_the_last_one(clock: Clock) -> None:
    drv, ctx = driver(interval=10)
    drv.on_advert(advert(21.5))
    clock.now += 1
    drv.on_advert(advert(21.7))  # within the cap: held back
    assert len(ctx.emitted) == 1
    clock.now += 10
    drv.on_advert(advert(21.7))  # the same advert again, cap expired: the change goes out
    assert ctx.emitted[1] == [M("temperature", 21.7, "°C")]


def test_heartbeat_republishes_unchanged_values(clock: Clock) -> None:
    drv, ctx = driver(heartbeat=60)
    drv.on_advert(advert(21.5))
    clock.now += 59
    drv.on_advert(advert(21.5))
    assert len(ctx.emitted) == 1
    clock.now += 1
    drv.on_advert(advert(21.5))
    assert ctx.emitted[1] == ctx.emitted[0]


def test_bad_and_foreign_adverts(clock: Clock) -> None:
    drv, ctx = driver()
    drv.on_advert(Advert(ADDRESS, "name only"))  # a scan response: nothing to decode
    drv.on_advert(Advert(ADDRESS, service_data={BTHOME_UUID: b"\x40\x02\xca"}))  # truncated
    assert ctx.emitted == []
    assert [kind for kind, _ in ctx.errors] == ["decode"]


def test_encrypted_adverts_need_the_right_key(clock: Clock) -> None:
    sealed = advert(21.5, packet=7, bindkey=KEY)
    drv, ctx = driver(bindkey=KEY)
    drv.on_advert(sealed)
    assert ctx.emitted == [[M("battery", 90, "%"), M("temperature", 21.5, "°C")]]
    wrong = "00" * 16
    drv, ctx = driver(bindkey=wrong)
    drv.on_advert(sealed)
    assert ctx.emitted == []
    assert [kind for kind, _ in ctx.errors] == ["decrypt"]
    assert wrong not in repr(ctx.errors) and KEY not in repr(ctx.errors)


def test_adapter_down_reports_offline(clock: Clock) -> None:
    drv, ctx = driver()
    drv.on_down("adapter hci0 not found")
    assert ctx.offline_reasons == ["adapter hci0 not found"]


def test_device_layout_publishes_every_value_when_one_changes(clock: Clock) -> None:
    drv, ctx = driver(layout="device")
    drv.on_advert(advert(21.5, packet=1))
    clock.now += 1
    drv.on_advert(advert(21.6, packet=2))
    assert ctx.emitted[1] == [M("battery", 90, "%"), M("temperature", 21.6, "°C")]
