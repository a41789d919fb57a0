"""Overload (#11): a real daemon offered ten times what it can publish keeps delivering, sheds
at the source (counted per device, no seq), and its loop keeps answering. A real Mosquitto, a
real subscriber (mosquitto_sub), the daemon's own metrics endpoint. Not a timed test: it asserts
that readings flow at all and that the loop serves statuses, stats and metrics meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiomqtt
import pytest
from support.broker import Mosquitto, free_port
from support.daemon import write_config
from support.faults import LoggedDaemon
from support.metrics import http_get, samples
from support.wait import until

ROOT = "sensor-gateway/ov"


def overload_config(tmp_path: Path, port: int, metrics: int, disk: bool) -> Path:
    sensors = '["temperature", "humidity", "pressure", "co2", "pm25"]'
    buffer = f'path = "{tmp_path / "outbox.db"}"\n' if disk else ""
    return write_config(tmp_path / "config.toml", (
        '[gateway]\nid = "ov"\nshutdown_timeout = 5\nstats_interval = 1\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_delay_max = 0.5\n'
        f"[buffer]\nmax_readings = 20000\n{buffer}"
        f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n'
        # 200 devices x 5 sensors every 2 ms: about 500 000 readings/s offered
        '[[devices]]\nid = "d"\ndriver = "simulated"\ncount = 200\ninterval = 0.002\n'
        f"seed = 1\nsensors = {sensors}\n"))


async def count_readings(port: int, topic: str, count: int, timeout: float) -> int:
    """mosquitto_sub: exits 0 once ``count`` messages on ``topic`` arrived within ``timeout``."""
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", str(count),
        "-W", str(int(timeout)), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.count(b"\n") if proc.returncode == 0 else -out.count(b"\n")


@pytest.mark.parametrize("disk", [False, True], ids=["memory", "disk"])
async def test_an_overloaded_daemon_keeps_delivering_and_answering(
    tmp_path: Path, disk: bool,
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    metrics = free_port()
    with broker:
        stats: list[dict[str, object]] = []
        statuses: dict[str, str] = {}

        async def watch() -> None:
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe(f"{ROOT}/stats")
                await client.subscribe(f"{ROOT}/+/status")
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    if str(message.topic).endswith("/stats"):
                        stats.append(json.loads(message.payload))
                    else:
                        statuses[str(message.topic)] = message.payload.decode()

        watcher = asyncio.create_task(watch(), name="test-watch")
        config = overload_config(tmp_path, broker.port, metrics, disk)
        try:
            with LoggedDaemon(config, tmp_path / "daemon.log") as daemon:
                await daemon.wait_log("running: 200 devices")
                # thousands of readings reach a subscriber within 10 s (one sensor of each)
                got = await count_readings(broker.port, f"{ROOT}/+/temperature", 2000, 10)
                assert got == 2000, (got, daemon.text()[-2000:])
                # the loop answers: metrics, stats, statuses
                status, text = await asyncio.wait_for(http_get(metrics), 5)
                assert status == 200
                shed = sum(v for (name, _), v in samples(text).items()
                           if name == "sensor_gateway_readings_shed_total")
                assert shed > 0  # shed at the source, counted per device
                seen = len(stats)
                await until(lambda: len(stats) >= seen + 2, timeout=10)  # stats still come
                last = stats[-1]
                assert isinstance(last["buffer"], dict) and last["buffer"]["shed"] > 0
                assert sum(1 for s in statuses.values() if s == "online") == 200
                assert "overload: the broker takes less than the drivers offer" in daemon.text()
                assert await daemon.terminate() == 0
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
