"""The public topic and payload contract, against a real Mosquitto."""

from __future__ import annotations

import re
from pathlib import Path

from support.broker import Mosquitto
from support.daemon import base_config, simulated
from support.inproc import running, settings_from
from support.mqtt import collect

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_per_sensor_payloads_and_seq(tmp_path: Path, mosquitto: Mosquitto) -> None:
    text = base_config(mosquitto.port, "contract") + simulated(
        "kitchen", 0.05, '["temperature", "humidity"]')
    root = "sensor-gateway/contract"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)):
            await sub.wait_for(lambda: len(sub.on(f"{root}/kitchen/humidity")) >= 5)
    for sensor, unit in (("temperature", "°C"), ("humidity", "%")):
        messages = sub.on(f"{root}/kitchen/{sensor}")
        payloads = [m.json for m in messages]
        assert all(set(p) == {"value", "unit", "ts", "seq"} for p in payloads)
        assert [p["seq"] for p in payloads] == list(range(1, len(payloads) + 1))
        assert all(p["unit"] == unit and TS.match(p["ts"]) for p in payloads)
        assert all(isinstance(p["value"], float | int) for p in payloads)
        assert not any(m.retain for m in messages)


async def test_status_topics_are_retained(tmp_path: Path, mosquitto: Mosquitto) -> None:
    text = base_config(mosquitto.port, "statuses") + simulated("porch", 0.05)
    root = "sensor-gateway/statuses"
    async with running(settings_from(tmp_path, text)):
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as early:
            await early.wait_for(lambda: early.on(f"{root}/porch/temperature"))
        # A late subscriber sees the retained states at once.
        async with collect(mosquitto.host, mosquitto.port, f"{root}/+/status") as late:
            await late.wait_for(lambda: late.on(f"{root}/porch/status"))
            retained = {m.topic: (m.text, m.retain) for m in late.messages}
    assert retained[f"{root}/porch/status"] == ("online", True)
    async with collect(mosquitto.host, mosquitto.port, f"{root}/status") as after:
        await after.wait_for(lambda: after.on(f"{root}/status"))
        assert after.on(f"{root}/status")[-1].text == "offline"


async def test_device_layout(tmp_path: Path, mosquitto: Mosquitto) -> None:
    text = base_config(mosquitto.port, "layout") + simulated(
        "attic", 0.05, '["temperature", "pressure"]', 'layout = "device"')
    root = "sensor-gateway/layout"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/attic") as sub:
        async with running(settings_from(tmp_path, text)):
            await sub.wait_for(lambda: len(sub.messages) >= 3)
    bodies = [m.json for m in sub.messages]
    assert [b["seq"] for b in bodies] == list(range(1, len(bodies) + 1))
    assert set(bodies[0]["readings"]) == {"temperature", "pressure"}
    assert bodies[0]["readings"]["pressure"]["unit"] == "hPa"
    assert TS.match(bodies[0]["ts"])


async def test_names_are_sanitised_for_topics(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sensors = '[{name = "$temp#1/a+b", profile = "temperature"}]'
    text = base_config(mosquitto.port, "sanitise") + simulated("bad/dev+ice#", 0.05, sensors)
    root = "sensor-gateway/sanitise"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)):
            await sub.wait_for(lambda: sub.on(f"{root}/bad_dev_ice/temp_1_a_b"))
    assert {m.topic for m in sub.messages} == {
        f"{root}/status", f"{root}/bad_dev_ice/status", f"{root}/bad_dev_ice/temp_1_a_b"}
