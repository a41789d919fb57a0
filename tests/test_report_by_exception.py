"""Report-by-exception: deadband and heartbeat, from the pure rule to a simulated device on a
real broker."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config, simulated
from support.inproc import running, settings_from
from support.mqtt import collect

from drivers.simulated.config import SimulatedConfig
from gateway.core.device import Device
from gateway.core.readings import Measurement
from gateway.core.report import Deadband, ReportPolicy, parse_deadband
from gateway.core.resources import SharedResources
from gateway.core.timefmt import iso_ms
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import MemoryBuffer
from gateway.errors import ConfigError


@pytest.mark.parametrize(("raw", "parsed"), [
    (0.5, Deadband(0.5)), (0, Deadband(0.0)), (2, Deadband(2.0)),
    ("2%", Deadband(2.0, percent=True)), (" 0.5 % ", Deadband(0.5, percent=True)),
    (".5%", Deadband(0.5, percent=True)),
])
def test_parse_deadband(raw: float | str, parsed: Deadband) -> None:
    assert parse_deadband(raw) == parsed


@pytest.mark.parametrize("raw", [-1, float("nan"), float("inf"), "2", "%", "-2%", "2 percent"])
def test_parse_deadband_rejects(raw: float | str) -> None:
    with pytest.raises(ValueError):
        parse_deadband(raw)


@pytest.mark.parametrize(("policy", "last", "value", "since", "publish"), [
    (ReportPolicy(Deadband(0.5)), None, 20.0, 0.0, True),         # first reading
    (ReportPolicy(Deadband(0.5)), 20.0, 20.4, 1.0, False),        # inside
    (ReportPolicy(Deadband(0.5)), 20.0, 20.5, 1.0, False),        # on the edge: inside
    (ReportPolicy(Deadband(0.5)), 20.0, 20.51, 1.0, True),        # beyond
    (ReportPolicy(Deadband(0.5)), 20.0, 19.4, 1.0, True),         # beyond, downwards
    (ReportPolicy(Deadband(0.0)), 20.0, 20.0, 1e6, False),        # 0: unchanged never
    (ReportPolicy(Deadband(0.0)), 20.0, 20.01, 0.0, True),        # 0: any change
    (ReportPolicy(Deadband(2, percent=True)), 1000.0, 1019.0, 1.0, False),
    (ReportPolicy(Deadband(2, percent=True)), 1000.0, 1021.0, 1.0, True),
    (ReportPolicy(Deadband(2, percent=True)), -50.0, -51.5, 1.0, True),
    (ReportPolicy(Deadband(2, percent=True)), 0.0, 0.001, 1.0, True),  # % of 0: any change
    (ReportPolicy(Deadband(5.0), heartbeat=60), 20.0, 20.0, 59.9, False),
    (ReportPolicy(Deadband(5.0), heartbeat=60), 20.0, 20.0, 60.0, True),  # heartbeat due
    (ReportPolicy(Deadband(5.0)), 20.0, float("nan"), 1.0, True),
])
def test_policy_table(policy: ReportPolicy, last: float | None, value: float, since: float,
                      publish: bool) -> None:
    assert policy.publish(last, value, since) is publish


def device_config(**options: object) -> SimulatedConfig:
    return SimulatedConfig.model_validate(
        {"id": "d", "sensors": ["temperature", "humidity"], **options})


def test_config_per_device_and_per_sensor() -> None:
    every = device_config(deadband="2%", heartbeat=30)
    assert every.report_policy("humidity") == ReportPolicy(Deadband(2, percent=True), 30)
    table = device_config(deadband={"temperature": 0.2}, heartbeat={"temperature": 60})
    assert table.report_policy("temperature") == ReportPolicy(Deadband(0.2), 60)
    assert table.report_policy("humidity") is None
    assert device_config().report_policy("temperature") is None


@pytest.mark.parametrize(("options", "key", "message"), [
    ({"deadband": -1}, "devices[0].deadband", "must be a finite number >= 0"),
    ({"deadband": "5 %%"}, "devices[0].deadband", "percentage"),
    ({"deadband": {"pressure": 1}}, "devices[0].deadband", "unknown sensor 'pressure'"),
    ({"heartbeat": 10}, "devices[0].heartbeat", "only used with a deadband"),
    ({"deadband": 1, "heartbeat": 0}, "devices[0].heartbeat", "must be > 0"),
    ({"deadband": {"temperature": 1}, "heartbeat": {"humidity": 5}}, "devices[0].heartbeat",
     "has no deadband"),
])
def test_config_errors_name_the_key(tmp_path: Path, options: dict[str, object], key: str,
                                    message: str) -> None:
    def toml(value: object) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
        return f'"{value}"' if isinstance(value, str) else str(value)

    extra = "".join(f"{k} = {toml(v)}\n" for k, v in options.items())
    text = simulated("d", 1.0, '["temperature", "humidity"]', extra)
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, text)
    assert any(k == key and message in m for k, m in info.value.problems), info.value.problems


async def test_device_publishes_only_due_readings_with_gap_free_seq() -> None:
    """The real Device emit path into a real buffer (no driver needed: we are the driver)."""
    buffer = MemoryBuffer()
    config = device_config(deadband={"temperature": 0.5}, heartbeat=10)
    async with asyncio.TaskGroup() as tg:
        device = Device(config, buffer, topics=TopicLayout("r"), shared=SharedResources(tg),
                        on_status=lambda *_: None)
        t0 = 1_000_000.0
        temps = [20.0, 20.2, 20.4, 20.6, 20.7, 19.9, 19.9, 19.9]
        for i, value in enumerate(temps):
            device.emit([Measurement("temperature", value, "°C"),
                         Measurement("humidity", 50.0, "%")], ts=t0 + i)
        device.emit([Measurement("temperature", 19.9, "°C")], ts=t0 + 16)  # heartbeat
    sent = [e for e in await buffer.get(100) if e.topic == "r/d/temperature"]
    bodies = [json.loads(e.payload) for e in sent]
    assert [b["value"] for b in bodies] == [20.0, 20.6, 19.9, 19.9]
    assert [b["seq"] for b in bodies] == [1, 2, 3, 4]  # only published readings get a seq
    assert bodies[-1]["ts"] == iso_ms(t0 + 16)
    assert device.suppressed == 5
    assert device.readings == 4 + len(temps)  # humidity has no deadband: every one published


async def test_simulated_device_end_to_end(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # A huge deadband: only the first reading and then one per heartbeat are published.
    extra = "deadband = { temperature = 1000 }\nheartbeat = 0.5"
    text = base_config(mosquitto.port, "rbe") + simulated(
        "still", 0.02, '["temperature", "humidity"]', extra)
    root = "sensor-gateway/rbe"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/still/+") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(f"{root}/still/temperature")) >= 3)
            device = gateway.devices["still"]
            assert device.suppressed > 0
            assert device.online  # suppressed readings keep the device online
    temps = [m.json for m in sub.on(f"{root}/still/temperature")]
    humidity = [m.json for m in sub.on(f"{root}/still/humidity")]
    assert [t["seq"] for t in temps] == list(range(1, len(temps) + 1))
    assert len(humidity) > 3 * len(temps)  # no deadband on humidity: every reading
    times = [datetime.fromisoformat(t["ts"].replace("Z", "+00:00")).timestamp() for t in temps]
    assert all(b - a >= 0.5 - 0.001 for a, b in itertools.pairwise(times))


async def test_device_layout_publishes_whole_cycles_when_any_reading_is_due() -> None:
    buffer = MemoryBuffer()
    config = device_config(deadband={"temperature": 1.0, "humidity": 5.0}, layout="device")
    async with asyncio.TaskGroup() as tg:
        device = Device(config, buffer, topics=TopicLayout("r"), shared=SharedResources(tg),
                        on_status=lambda *_: None)
        cycles = [(20.0, 50.0), (20.5, 52.0), (20.5, 56.0), (21.0, 57.0), (22.0, 57.0)]
        for i, (t, h) in enumerate(cycles):
            device.emit([Measurement("temperature", t, "°C"), Measurement("humidity", h, "%")],
                        ts=1000.0 + i)
    bodies = [json.loads(e.payload) for e in await buffer.get(100)]
    assert [(b["readings"]["temperature"]["value"], b["readings"]["humidity"]["value"])
            for b in bodies] == [(20.0, 50.0), (20.5, 56.0), (22.0, 57.0)]
    assert [b["seq"] for b in bodies] == [1, 2, 3]
    assert device.suppressed == 4  # two cycles of two readings
