"""Supervision: a failing, hanging or lying device is restarted; the others do not notice."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config, simulated
from support.inproc import running, settings_from
from support.mqtt import Msg, collect
from support.wait import until


def seqs(messages: list[Msg]) -> list[int]:
    return [m.json["seq"] for m in messages]


async def test_faulting_device_restarts_others_keep_rate(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    text = (base_config(mosquitto.port, "superv")
            + simulated("faulty", 0.05, extra="[devices.faults]\nraise_every = 5\n")
            + simulated("steady", 0.05))
    root = "sensor-gateway/superv"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            started = time.monotonic()
            # faulty: online -> offline (its 5th read raises) -> online again, three times over
            await sub.wait_for(lambda: [m.text for m in sub.on(f"{root}/faulty/status")].count(
                "offline") >= 3, timeout=20)
            await sub.wait_for(lambda: sub.on(f"{root}/faulty/status")[-1].text == "online")
            elapsed = time.monotonic() - started
            assert gateway.devices["faulty"].restarts >= 3
            assert gateway.devices["steady"].restarts == 0
            assert [m.text for m in sub.on(f"{root}/steady/status")] == ["online"]
    steady = seqs(sub.on(f"{root}/steady/temperature"))
    assert steady == list(range(1, len(steady) + 1))
    # steady kept (most of) its 20 readings/s while faulty crashed and restarted
    assert len(steady) >= 0.6 * elapsed / 0.05
    faulty = seqs(sub.on(f"{root}/faulty/temperature"))
    assert faulty == list(range(1, len(faulty) + 1)), "seq continues across restarts"


async def test_hanging_device_is_restarted_after_stall(tmp_path: Path, mosquitto: Mosquitto) -> None:
    text = base_config(mosquitto.port, "hang") + simulated(
        "sleepy", 0.05, extra="stall_timeout = 0.5\n[devices.faults]\nhang_after = 3\n")
    root = "sensor-gateway/hang"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(f"{root}/sleepy/temperature")) >= 9, timeout=15)
            assert gateway.devices["sleepy"].restarts >= 2
    statuses = [m.text for m in sub.on(f"{root}/sleepy/status")]
    assert statuses[:3] == ["online", "offline", "online"]


async def test_out_of_range_values_are_counted_not_published(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    text = base_config(mosquitto.port, "range") + simulated(
        "liar", 0.02, '["humidity"]', extra="[devices.faults]\nout_of_range_every = 2\n")
    root = "sensor-gateway/range"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(f"{root}/liar/humidity")) >= 10)
            assert gateway.devices["liar"].errors["out_of_range"] >= 9
            assert gateway.devices["liar"].restarts == 0
    assert all(0 <= m.json["value"] <= 100 for m in sub.on(f"{root}/liar/humidity"))


async def test_silent_device_goes_offline(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # After 3 reads the device hangs; its stall timeout is long, so it is reported offline
    # (3 intervals, at least 1 s) well before it would be restarted.
    text = base_config(mosquitto.port, "silent") + simulated(
        "mute", 0.1, extra="stall_timeout = 60\n[devices.faults]\nhang_after = 3\n")
    root = "sensor-gateway/silent"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: [m.text for m in sub.on(f"{root}/mute/status")]
                               == ["online", "offline"], timeout=5)
            assert gateway.devices["mute"].restarts == 0
    assert len(sub.on(f"{root}/mute/temperature")) == 3


async def test_still_offline_for_another_cause_is_a_warning(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """A port missing at start is logged once; when it then appears but cannot be opened (under
    systemd: refused by the device policy) that new cause is a warning too, not debug only.
    The same cause again stays quiet."""
    port = tmp_path / "port"
    text = base_config(mosquitto.port, "cause") + (
        f'[[devices]]\nid = "late"\ndriver = "serial"\nport = "{port}"\nprotocol = "json"\n')
    caplog.set_level(logging.WARNING, logger="gateway")
    async with running(settings_from(tmp_path, text)):
        await until(lambda: "No such file or directory" in caplog.text, timeout=10)
        port.mkdir()  # the path appears, but is no port: open() fails with another errno
        await until(lambda: "Is a directory" in caplog.text, timeout=10)
        await asyncio.sleep(1.5)  # restart_delay_max = 0.5: at least two more retries
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
             and "late" in r.getMessage()]
    assert "offline: DeviceUnavailable: cannot open" in lines[0]
    assert "No such file or directory" in lines[0]
    changed = [line for line in lines if "Is a directory" in line]
    assert len(changed) == 1 and "still offline, now: DeviceUnavailable: cannot open" in changed[0]
    assert sum("No such file or directory" in line for line in lines) == 1
