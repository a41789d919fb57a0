"""Every serial protocol end to end: simulator on a real pty -> serial driver -> Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect

from drivers.serial.simulator import MODBUS_REGISTERS, REGEX_PATTERN, SerialSimulator


def toml_inline(table: dict[str, object]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"


EXTRA = {
    "json": 'units = { temperature = "°C", humidity = "%" }',
    "csv": 'units = { temperature = "°C" }',
    "kv": 'rename = { humidity = "rh" }',
    "regex": f"pattern = '{REGEX_PATTERN}'",
    "pms5003": "",
    "sds011": "",
    "nmea": "",
    "mhz19": "interval = 0.1\nread_timeout = 0.5",
    "modbus": "unit = 1\ninterval = 0.1\nregisters = [\n"
              + ",\n".join(toml_inline(r) for r in MODBUS_REGISTERS) + "\n]",
}
KEY = {"json": ("temperature", "°C"), "csv": ("temperature", "°C"), "kv": ("rh", None),
       "regex": ("humidity", None), "pms5003": ("pm2_5", "µg/m³"), "sds011": ("pm10", "µg/m³"),
       "nmea": ("latitude", "°"), "mhz19": ("co2", "ppm"), "modbus": ("voltage", "V")}
SOURCE = {"kv": "humidity"}  # the simulator's name, where the config renames it
REPEAT = {"nmea": 2}  # GGA and RMC both carry the position: two readings per fix


def sent_values(sim: SerialSimulator, name: str) -> list[float]:
    return [v[name] for v in sim.traffic.sent for _ in range(REPEAT.get(sim.protocol, 1))]


def serial_device(sim: SerialSimulator, extra: str, device_id: str = "dev") -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "serial"\nport = "{sim.link}"\n'
            f'protocol = "{sim.protocol}"\nbaudrate = 9600\n{extra}\n')


class SimulatorOptions(TypedDict, total=False):
    """SerialSimulator's options the tests vary."""

    rate: float
    garbage: float
    unit: int | Sequence[int]


@contextlib.asynccontextmanager
async def simulator(
    protocol: str, link: Path, **kwargs: Unpack[SimulatorOptions]
) -> AsyncIterator[SerialSimulator]:
    async with SerialSimulator(protocol, link, seed=7, **kwargs) as sim:
        task = asyncio.create_task(sim.run(), name="test-simulator")
        try:
            yield sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def values_on(sub: Collector, topic: str) -> list[float]:
    return [m.json["value"] for m in sub.on(topic)]


def assert_in_order(received: list[float], sent: list[float]) -> None:
    """Every received value was sent, in the order sent, none skipped after the first."""
    assert received, "nothing received"
    # A random walk can repeat a value: the run may start at any of its occurrences.
    starts = [i for i, v in enumerate(sent) if v == pytest.approx(received[0], abs=1e-6)]
    assert starts, f"{received[0]} was never sent"
    for start in starts[:-1]:
        if received == pytest.approx(sent[start:start + len(received)], abs=1e-6):
            return
    assert received == pytest.approx(sent[starts[-1]:starts[-1] + len(received)], abs=1e-6)


@pytest.mark.parametrize("protocol", list(EXTRA))
async def test_protocol_end_to_end(protocol: str, tmp_path: Path, mosquitto: Mosquitto) -> None:
    root = f"sensor-gateway/ser-{protocol}"
    sensor, unit = KEY[protocol]
    async with simulator(protocol, tmp_path / "tty", rate=20) as sim:
        text = base_config(mosquitto.port, f"ser-{protocol}") + serial_device(sim, EXTRA[protocol])
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)):
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/{sensor}")) >= 5, timeout=15)
        sent = sent_values(sim, SOURCE.get(protocol, sensor))
    messages = sub.on(f"{root}/dev/{sensor}")
    assert all(m.json["unit"] == unit for m in messages)
    assert [m.json["seq"] for m in messages] == list(range(1, len(messages) + 1))
    if protocol == "modbus":  # polled: each poll reads the meter's current sample
        assert all(any(v == pytest.approx(s, rel=1e-6) for s in sent)
                   for v in values_on(sub, f"{root}/dev/{sensor}"))
    else:
        assert_in_order(values_on(sub, f"{root}/dev/{sensor}"), sent)


@pytest.mark.parametrize("protocol", ["json", "pms5003", "sds011", "nmea"])
async def test_garbage_between_frames_loses_no_good_frame(
    protocol: str, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    root = f"sensor-gateway/garbage-{protocol}"
    sensor = KEY[protocol][0]
    async with simulator(protocol, tmp_path / "tty", rate=40, garbage=0.5) as sim:
        text = base_config(mosquitto.port, f"garbage-{protocol}") + serial_device(
            sim, EXTRA[protocol])
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)) as gateway:
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/{sensor}")) >= 40, timeout=20)
                errors = sum(gateway.devices["dev"].errors.values())
        sent = sent_values(sim, sensor)
    assert errors > 0, "the garbage was noticed and counted"
    assert_in_order(values_on(sub, f"{root}/dev/{sensor}"), sent)


async def test_unplug_and_replug_at_the_same_path(tmp_path: Path, mosquitto: Mosquitto) -> None:
    root = "sensor-gateway/hotplug"
    async with simulator("json", tmp_path / "by-id" / "usb-sim", rate=20) as sim:
        text = base_config(mosquitto.port, "hotplug") + serial_device(sim, EXTRA["json"])
        status = f"{root}/dev/status"
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)) as gateway:
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/temperature")) >= 3)
                sim.unplug()  # the pty is closed: the reader sees the port vanish
                await sub.wait_for(lambda: sub.on(status)[-1].text == "offline", timeout=5)
                before = len(sub.on(f"{root}/dev/temperature"))
                sim.replug()
                await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=10)
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/temperature")) >= before + 3)
                assert gateway.devices["dev"].restarts >= 1
                assert [m.text for m in sub.on(status)] == ["online", "offline", "online"]
    seqs = [m.json["seq"] for m in sub.on(f"{root}/dev/temperature")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_missing_port_at_start_then_it_appears(tmp_path: Path, mosquitto: Mosquitto) -> None:
    root = "sensor-gateway/lateport"
    link = tmp_path / "by-id" / "usb-late"
    text = base_config(mosquitto.port, "lateport") + (
        f'[[devices]]\nid = "dev"\ndriver = "serial"\nport = "{link}"\nprotocol = "sds011"\n')
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: sub.on(f"{root}/dev/status"))
            assert sub.on(f"{root}/dev/status")[-1].text == "offline"
            assert gateway.devices["dev"].online is False
            async with simulator("sds011", link, rate=20):
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/pm2_5")) >= 3, timeout=10)
            assert sub.on(f"{root}/dev/status")[-1].text == "online"


async def test_silent_device_goes_offline_and_recovers(tmp_path: Path, mosquitto: Mosquitto) -> None:
    root = "sensor-gateway/stale"
    async with simulator("kv", tmp_path / "tty", rate=20) as sim:
        text = base_config(mosquitto.port, "stale") + serial_device(
            sim, EXTRA["kv"] + "\nstale_timeout = 1.0")
        status = f"{root}/dev/status"
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)):
                await sub.wait_for(lambda: len(sub.on(f"{root}/dev/rh")) >= 3)
                sim.silent = True
                await sub.wait_for(lambda: sub.on(status)[-1].text == "offline", timeout=5)
                sim.silent = False
                await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=10)


async def test_streaming_interval_caps_publish_rate(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with simulator("sds011", tmp_path / "tty", rate=50) as sim:
        text = base_config(mosquitto.port, "cap") + serial_device(sim, "interval = 0.5")
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["dev"]
            await asyncio.sleep(0)
            async with asyncio.timeout(10):
                while sim.frames < 100:
                    await asyncio.sleep(0.05)
            readings = device.readings
    # 100 frames at 50/s took ~2 s: at most one pm2_5 and one pm10 per 0.5 s get through
    assert 2 <= readings <= 2 * (2 + 100 / 50 / 0.5)


async def test_modbus_devices_share_one_bus(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Three meters on one RS-485 port: units 1 and 2 answer, unit 3 is not on the bus.

    The two live meters both publish through the one shared connection; the absent one's failed
    requests are counted (pymodbus's slave answers an unknown unit with an exception response
    where a real bus stays silent until the timeout: both are counted), it goes offline, and
    the others keep publishing."""
    root = "sensor-gateway/bus"
    registers = "registers = [\n" + ",\n".join(toml_inline(r) for r in MODBUS_REGISTERS) + "\n]"

    def meter(unit: int) -> str:
        return serial_device(sim, f"unit = {unit}\ninterval = 0.2\nread_timeout = 0.3\n"
                                  f"stale_timeout = 1.5\n{registers}", f"m{unit}")

    async with simulator("modbus", tmp_path / "rs485", unit=[1, 2]) as sim:
        text = base_config(mosquitto.port, "bus") + meter(1) + meter(2) + meter(3)
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)) as gateway:
                for unit in (1, 2):

                    def five_voltages(u: int = unit) -> bool:
                        return len(sub.on(f"{root}/m{u}/voltage")) >= 5

                    await sub.wait_for(five_voltages, timeout=15)
                await sub.wait_for(lambda: any(m.text == "offline"
                                               for m in sub.on(f"{root}/m3/status")), timeout=10)
                errors = gateway.devices["m3"].errors
                assert errors["timeout"] + errors["modbus_error"] >= 1
                before = len(sub.on(f"{root}/m1/voltage"))
                await sub.wait_for(lambda: len(sub.on(f"{root}/m1/voltage")) >= before + 3)
                assert [m.text for m in sub.on(f"{root}/m1/status")] == ["online"]
                assert [m.text for m in sub.on(f"{root}/m2/status")] == ["online"]
    assert not sub.on(f"{root}/m3/voltage")


async def test_restarting_one_unit_many_times_never_wedges_the_shared_bus(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    """Unit 3 is not on the bus (the simulator does not serve it): it stalls and is restarted
    again and again, cancelled in the middle of its requests, while units 1 and 2 keep reading
    through the same port; and the gateway still stops promptly (#17: a restart on a shared
    bus once wedged the bus or the teardown)."""
    root = "sensor-gateway/busr"
    registers = "registers = [\n" + ",\n".join(toml_inline(r) for r in MODBUS_REGISTERS) + "\n]"

    def meter(unit: int, silence: float) -> str:
        return serial_device(sim, f"unit = {unit}\ninterval = 0.1\nread_timeout = 0.3\n"
                                  f"silence_timeout = {silence}\n{registers}", f"m{unit}")

    async with simulator("modbus", tmp_path / "rs485", unit=[1, 2]) as sim:
        text = (base_config(mosquitto.port, "busr").replace("restart_delay_max = 0.5",
                                                            "restart_delay_max = 0.1")
                + meter(1, 5) + meter(2, 5) + meter(3, 0.5))
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with asyncio.timeout(90), running(settings_from(tmp_path, text)) as gateway:
                m3 = gateway.devices["m3"]
                for restarts in range(5, 25, 5):
                    before = {u: len(sub.on(f"{root}/m{u}/voltage")) for u in (1, 2)}

                    def restarted(r: int = restarts) -> bool:
                        return m3.restarts >= r

                    await sub.wait_for(restarted, timeout=30)

                    def both_read_on(b: dict[int, int] = before) -> bool:
                        return all(len(sub.on(f"{root}/m{u}/voltage")) >= b[u] + 3
                                   for u in (1, 2))

                    await sub.wait_for(both_read_on, timeout=15)
            # the teardown returned (inside the timeout) with unit 3 still being restarted
        for unit in (1, 2):
            assert [m.text for m in sub.on(f"{root}/m{unit}/status")][:1] == ["online"]
            assert "offline" not in [m.text for m in sub.on(f"{root}/m{unit}/status")][:-1]
