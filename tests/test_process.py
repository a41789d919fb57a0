"""The daemon as a real process: signals, exit codes, last will, broker outages."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from support.broker import Mosquitto, free_port
from support.daemon import DaemonProcess, base_config, simulated, write_config
from support.inproc import running, settings_from
from support.mqtt import collect
from support.wait import until


async def test_sigterm_exits_0_and_publishes_offline(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_config(tmp_path / "c.toml",
                          base_config(mosquitto.port, "sigterm") + simulated("den", 0.05))
    root = "sensor-gateway/sigterm"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        with DaemonProcess(config) as daemon:
            await sub.wait_for(lambda: len(sub.on(f"{root}/den/temperature")) >= 3, timeout=15)
            daemon.signal(signal.SIGTERM)
            code, output = await asyncio.to_thread(daemon.wait)
        await sub.wait_for(lambda: sub.on(f"{root}/status")[-1].text == "offline")
        await sub.wait_for(lambda: sub.on(f"{root}/den/status")[-1].text == "offline")
    assert code == 0, output
    assert "Traceback" not in output


async def test_sigkill_triggers_last_will(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_config(tmp_path / "c.toml", base_config(
        mosquitto.port, "sigkill", "keepalive = 5") + simulated("den", 0.05))
    root = "sensor-gateway/sigkill"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/status") as sub:
        with DaemonProcess(config) as daemon:
            await sub.wait_for(lambda: sub.messages and sub.messages[-1].text == "online",
                               timeout=15)
            daemon.signal(signal.SIGKILL)
            await asyncio.to_thread(daemon.wait)
        await sub.wait_for(lambda: sub.messages[-1].text == "offline", timeout=5)


async def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: the shutdown flush would wait its full timeout
    text = base_config(port, "twice").replace("shutdown_timeout = 5", "shutdown_timeout = 60")
    config = write_config(tmp_path / "c.toml", text + simulated("den", 0.05))
    with DaemonProcess(config) as daemon:
        assert daemon.proc is not None and daemon.proc.stdout is not None
        await read_until(daemon, "running:")
        daemon.signal(signal.SIGINT)
        await read_until(daemon, "stopping:")  # it waits (60 s) to flush to a broker that is away
        daemon.signal(signal.SIGINT)
        code, output = await asyncio.to_thread(daemon.wait, 10)
    assert code == 1 and "exiting at once" in output


async def read_until(daemon: DaemonProcess, text: str) -> None:
    assert daemon.proc is not None and daemon.proc.stdout is not None
    async with asyncio.timeout(15):
        while text not in (line := await asyncio.to_thread(daemon.proc.stdout.readline)):
            assert line, f"daemon exited before printing {text!r}"


async def test_broker_down_at_start_then_everything_arrives(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/latebroker"
    with broker:  # register a persistent subscription, then take the broker away
        async with collect(broker.host, broker.port, f"{root}/#", client_id="late-sub",
                           clean_session=False):
            pass
    text = base_config(broker.port, "latebroker") + simulated("cellar", 0.02)
    async with running(settings_from(tmp_path, text)) as gateway:
        await until(lambda: gateway.buffer.stats().queued >= 30)  # piling up, broker away
        with broker:
            async with collect(broker.host, broker.port, f"{root}/#", client_id="late-sub",
                               clean_session=False) as sub:
                await sub.wait_for(lambda: len(sub.on(f"{root}/cellar/temperature")) >= 60,
                                   timeout=15)
    got = [m.json["seq"] for m in sub.on(f"{root}/cellar/temperature")]
    assert got[:60] == list(range(1, 61))


async def test_broker_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/restart"
    text = base_config(broker.port, "restart") + simulated("loft", 0.01)
    with broker:
        async with collect(broker.host, broker.port, f"{root}/#", client_id="restart-sub",
                           clean_session=False) as before:
            async with running(settings_from(tmp_path, text)) as gateway:
                await before.wait_for(lambda: len(before.on(f"{root}/loft/temperature")) >= 20)
                broker.stop()
                missed = gateway.buffer.stats().queued
                await until(lambda: gateway.buffer.stats().queued >= missed + 50)
                broker.start()
                async with collect(broker.host, broker.port, f"{root}/#",
                                   client_id="restart-sub", clean_session=False) as after:
                    target = gateway.devices["loft"].readings + 20
                    await after.wait_for(
                        lambda: max((m.json["seq"] for m in after.on(f"{root}/loft/temperature")),
                                    default=0) >= target, timeout=20)
    seen = {m.json["seq"] for m in before.on(f"{root}/loft/temperature")}
    seen |= {m.json["seq"] for m in after.on(f"{root}/loft/temperature")}
    assert set(range(1, target + 1)) <= seen, sorted(set(range(1, target + 1)) - seen)[:20]
