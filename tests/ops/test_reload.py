"""SIGHUP reload against the real daemon process and a real Mosquitto."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from support.broker import Mosquitto
from support.daemon import DaemonProcess, base_config, simulated, write_config
from support.mqtt import collect

ROOT = "sensor-gateway/reload"


class Output:
    """The daemon's log lines, read as they come."""

    def __init__(self, daemon: DaemonProcess) -> None:
        assert daemon.proc is not None and daemon.proc.stdout is not None
        self.stream = daemon.proc.stdout
        self.lines: list[str] = []

    async def until(self, text: str, timeout: float = 15) -> str:
        async with asyncio.timeout(timeout):
            while True:
                line = await asyncio.to_thread(self.stream.readline)
                assert line, f"daemon exited before logging {text!r}:\n{''.join(self.lines)}"
                self.lines.append(line)
                if text in line:
                    return line


async def test_reload_adds_removes_and_restarts_devices_without_dropping_the_session(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    base = base_config(mosquitto.port, "reload")
    before = (simulated("den", 0.05) + simulated("attic", 0.05) + simulated("loft", 0.05))
    after = (simulated("den", 0.05) + simulated("loft", 0.05, '["temperature", "humidity"]')
             + simulated("cellar", 0.05))
    config = write_config(tmp_path / "c.toml", base + before)
    async with collect(mosquitto.host, mosquitto.port, f"{ROOT}/#") as sub:
        with DaemonProcess(config) as daemon:
            out = Output(daemon)
            await out.until("running:")
            await sub.wait_for(lambda: len(sub.on(f"{ROOT}/attic/temperature")) >= 3)
            den_before = len(sub.on(f"{ROOT}/den/temperature"))
            write_config(config, base + after)
            daemon.signal(signal.SIGHUP)
            line = await out.until("reloaded:")
            assert "1 added, 1 removed, 1 changed; 3 devices running" in line
            await sub.wait_for(lambda: len(sub.on(f"{ROOT}/cellar/temperature")) >= 3)
            await sub.wait_for(lambda: len(sub.on(f"{ROOT}/loft/humidity")) >= 3)
            await sub.wait_for(lambda: sub.on(f"{ROOT}/attic/status")[-1].text == "offline")
            await sub.wait_for(lambda: len(sub.on(f"{ROOT}/den/temperature")) >= den_before + 20)
            attic_last = len(sub.on(f"{ROOT}/attic/temperature"))
            await sub.wait_for(lambda: len(sub.on(f"{ROOT}/cellar/temperature")) >= 10)
            daemon.signal(signal.SIGTERM)
            code, rest = await asyncio.to_thread(daemon.wait)
    output = "".join(out.lines) + rest
    assert code == 0, output
    assert len(sub.on(f"{ROOT}/attic/temperature")) == attic_last  # really stopped
    births = [m for m in sub.on(f"{ROOT}/status") if m.text == "online"]
    assert len(births) == 1, "the MQTT session was dropped by the reload"
    assert "connected to" in output and output.count("connected to") == 1
    den = [m.json["seq"] for m in sub.on(f"{ROOT}/den/temperature")]
    assert den == list(range(1, len(den) + 1))  # untouched device: no gap, no restart
    assert [m.text for m in sub.on(f"{ROOT}/den/status")] == ["online", "offline"]
    loft = [m.json["seq"] for m in sub.on(f"{ROOT}/loft/temperature")]
    assert loft == sorted(loft) and len(set(loft)) == len(loft)  # restarted, seq continues


async def test_invalid_reload_keeps_the_old_config_running(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    base = base_config(mosquitto.port, "reload-bad")
    good = base + simulated("den", 0.05)
    config = write_config(tmp_path / "c.toml", good)
    root = "sensor-gateway/reload-bad"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        with DaemonProcess(config) as daemon:
            out = Output(daemon)
            await out.until("running:")
            write_config(config, base + simulated("den", -1) + simulated("cellar", 0.05))
            daemon.signal(signal.SIGHUP)
            await out.until("reload rejected")
            line = await out.until("devices[0].interval")
            assert "must be > 0" in line
            count = len(sub.on(f"{root}/den/temperature"))
            await sub.wait_for(lambda: len(sub.on(f"{root}/den/temperature")) >= count + 10)
            write_config(config, "this is [not toml")
            daemon.signal(signal.SIGHUP)
            await out.until("invalid TOML")
            keepalive = good.replace("reconnect_delay_max = 0.5", "reconnect_delay_max = 0.5\n"
                                     "keepalive = 20")
            write_config(config, keepalive.replace("shutdown_timeout = 5", "shutdown_timeout = 3"))
            daemon.signal(signal.SIGHUP)
            line = await out.until("needs a restart")
            assert "mqtt.keepalive" in line
            await out.until("reloaded:")
            daemon.signal(signal.SIGTERM)
            code, rest = await asyncio.to_thread(daemon.wait)
    output = "".join(out.lines) + rest
    assert code == 0, output
    assert "shutdown_timeout" not in output  # applied live, not reported
    assert not sub.on(f"{root}/cellar/temperature")
    assert "Traceback" not in output


def test_plan_compares_device_configs_and_keeps_restart_only_keys(tmp_path: Path) -> None:
    from support.inproc import settings_from

    from gateway.ops.reload import plan_reload

    old = settings_from(tmp_path, base_config(1883, "p") + simulated("a") + simulated("b"))
    new = settings_from(tmp_path, base_config(1884, "q").replace(
        "shutdown_timeout = 5", "shutdown_timeout = 9") + simulated("a")
        + simulated("b", 0.2) + simulated("c"))
    plan = plan_reload(old, new)
    assert [d.id for d in plan.added] == ["c"] and [d.id for d in plan.changed] == ["b"]
    assert plan.removed == []
    assert sorted(plan.needs_restart) == ["gateway.id", "mqtt.port"]
    assert plan.settings.mqtt.port == 1883 and plan.settings.gateway.id == "p"
    assert plan.settings.gateway.shutdown_timeout == 9
    assert [d.id for d in plan.settings.devices] == ["a", "b", "c"]


async def test_reload_keeps_the_buffer_while_the_broker_is_away(tmp_path: Path) -> None:
    """In-process (to look at the buffer): nothing listens on the broker port."""
    import asyncio as aio

    from support.broker import free_port
    from support.wait import until

    from gateway.config import load_config
    from gateway.daemon import Gateway

    path = tmp_path / "c.toml"
    base = base_config(free_port(), "reload-buf").replace("shutdown_timeout = 5", "shutdown_timeout = 0.2")
    path.write_text(base + simulated("den", 0.02) + simulated("attic", 0.02))
    gateway = Gateway(load_config(path), loader=lambda: load_config(path))
    stop = aio.Event()
    task = aio.create_task(gateway.run(stop), name="test-gateway")
    try:
        await until(lambda: gateway.buffer.stats().queued >= 50)
        buffer, publisher = gateway.buffer, gateway.publisher
        path.write_text(base + simulated("den", 0.02) + simulated("cellar", 0.02))
        assert await gateway.ops.reload()
        queued = buffer.stats().queued
        assert queued >= 50 and gateway.buffer is buffer and gateway.publisher is publisher
        assert sorted(gateway.devices) == ["cellar", "den"]
        await until(lambda: gateway.devices["cellar"].readings >= 5)
        assert buffer.stats().queued > queued  # still filling, nothing thrown away
        path.write_text("[[devices]]\nid = 'x'\n")
        assert not await gateway.ops.reload()
        assert sorted(gateway.devices) == ["cellar", "den"]
    finally:
        stop.set()
        async with aio.timeout(20):
            await task


async def test_reload_updates_home_assistant_discovery(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A device removed by a reload gets HA's empty retained config; an added one is announced."""
    from support.wait import until

    from gateway.config import load_config
    from gateway.daemon import Gateway

    path = tmp_path / "c.toml"
    base = base_config(mosquitto.port, "reload-ha") + "[homeassistant]\ndiscovery = true\n"
    path.write_text(base + simulated("den", 0.1) + simulated("attic", 0.1))
    gateway = Gateway(load_config(path), loader=lambda: load_config(path))
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop), name="test-gateway")
    topic = "homeassistant/device/reload-ha_{}/config"
    try:
        async with collect(mosquitto.host, mosquitto.port, "homeassistant/device/#") as sub:
            await sub.wait_for(lambda: sub.on(topic.format("attic")))
            assert sub.on(topic.format("attic"))[-1].payload
            path.write_text(base + simulated("den", 0.1) + simulated("cellar", 0.1))
            assert await gateway.ops.reload()
            await sub.wait_for(lambda: sub.on(topic.format("cellar")))
            await sub.wait_for(lambda: sub.on(topic.format("attic"))[-1].payload == b"")
            await until(lambda: "cellar" in gateway.devices)
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task
