"""Metrics scraped over HTTP, <root>/stats on MQTT, loop-lag and blocking warnings."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import signal
import time
from pathlib import Path

import pytest
from support.broker import Mosquitto, free_port
from support.daemon import DaemonProcess, base_config, run_cli, simulated, write_config
from support.metrics import http_get, scrape_until
from support.mqtt import collect
from support.wait import until

from gateway.ops.looplag import LoopMonitor


async def test_metrics_scraped_over_http(tmp_path: Path, own_mosquitto: Mosquitto) -> None:
    port = free_port()
    text = base_config(own_mosquitto.port, "metrics").replace(
        "shutdown_timeout = 5", "shutdown_timeout = 0.5")  # the broker is gone at the end
    text += f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    text += simulated("den", 0.02, '["temperature", "humidity"]')
    text += simulated("bad", 0.02, extra="[devices.faults]\nout_of_range_every = 2")
    config = write_config(tmp_path / "c.toml", text)
    with DaemonProcess(config) as daemon:
        got = await scrape_until(port, "sensor_gateway_readings_published_total",
                                 {"device": "den"}, 20)
        assert got[("sensor_gateway_device_online", (("device", "den"),))] == 1
        assert got[("sensor_gateway_readings_total", (("device", "den"),))] >= 20
        assert got[("sensor_gateway_mqtt_connected", ())] == 1
        assert got[("sensor_gateway_publish_latency_seconds_count", ())] >= 20
        assert got[("sensor_gateway_publish_latency_seconds_bucket", (("le", "+Inf"),))] >= 20
        assert got[("sensor_gateway_device_last_reading_age_seconds", (("device", "den"),))] < 60
        assert ("sensor_gateway_event_loop_lag_seconds", ()) in got
        assert got[("process_resident_memory_bytes", ())] > 0
        got = await scrape_until(port, "sensor_gateway_decode_errors_total",
                                 {"device": "bad", "kind": "out_of_range"}, 1)
        assert (await http_get(port, "/nope"))[0] == 404
        assert (await http_get(port, "/metrics", "POST"))[0] == 405
        own_mosquitto.kill()
        got = await scrape_until(port, "sensor_gateway_mqtt_reconnects_total", {}, 1)
        queued = got[("sensor_gateway_buffer_readings", ())]
        await scrape_until(port, "sensor_gateway_buffer_readings", {}, queued + 20)
        got = await scrape_until(port, "sensor_gateway_buffer_bytes", {}, 1)
        assert got[("sensor_gateway_mqtt_connected", ())] == 0
        daemon.signal(signal.SIGTERM)
        code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0, output


async def test_metrics_port_in_use_is_logged_and_the_daemon_keeps_running(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    busy = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = busy.sockets[0].getsockname()[1]
    text = base_config(mosquitto.port, "metrics-busy") + f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    config = write_config(tmp_path / "c.toml", text + simulated("den", 0.05))
    root = "sensor-gateway/metrics-busy"
    async with busy, collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        with DaemonProcess(config) as daemon:
            await sub.wait_for(lambda: len(sub.on(f"{root}/den/temperature")) >= 10)
            daemon.signal(signal.SIGTERM)
            code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0
    assert f"metrics: cannot listen on 127.0.0.1:{port}" in output


def test_metrics_listen_is_validated(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml",
                          base_config(1883) + '[metrics]\nlisten = "localhost"\n')
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert "metrics.listen: must be host:port" in result.stderr


async def test_stats_message_on_mqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    text = base_config(mosquitto.port, "stats").replace(
        "shutdown_timeout = 5", "shutdown_timeout = 5\nstats_interval = 0.3")
    config = write_config(tmp_path / "c.toml", text + simulated("den", 0.05))
    root = "sensor-gateway/stats"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        with DaemonProcess(config) as daemon:
            await sub.wait_for(lambda: len(sub.on(f"{root}/stats")) >= 3)
            daemon.signal(signal.SIGTERM)
            code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0, output
    stats = sub.on(f"{root}/stats")[-1]
    assert not stats.retain
    body = stats.json
    assert set(body) == {"ts", "version", "uptime", "devices", "readings", "mqtt", "buffer",
                         "loop", "per_device"}
    assert body["devices"] == {"total": 1, "online": 1}
    assert body["readings"]["total"] > 0 and body["readings"]["per_min"] > 0
    # The first message already counts (it used to say 0.0: #16): within the first minute the
    # readings of the last minute are all the readings so far.
    first = sub.on(f"{root}/stats")[0].json["readings"]
    assert first["per_min"] > 0
    assert first["per_min"] == first["total"]
    assert body["mqtt"]["connected"] is True and body["mqtt"]["published"] > 0
    assert set(body["buffer"]) == {"queued", "inflight", "bytes", "dropped", "shed", "shedding"}
    assert body["loop"]["lag"] >= 0 and body["loop"]["max_lag"] >= 0
    den = body["per_device"]["den"]
    assert den["online"] is True and den["readings"] > 0 and den["errors"] == {}
    assert body["ts"].endswith("Z")


def blocking_callback() -> None:
    time.sleep(0.4)  # deliberately blocks the event loop


def block_the_loop(seconds: float) -> None:
    time.sleep(seconds)


def reported(monitor: LoopMonitor, blocks: int) -> bool:
    return monitor.blocks >= blocks


# Both ways of catching a block: SIGALRM (the daemon's; pytest-timeout must not hold the signal
# then, hence no timeout: every wait in these tests has its own) and the helper thread.
MODES = [pytest.param("alarm", marks=pytest.mark.timeout(0)), "thread"]


def make_monitor(mode: str) -> LoopMonitor:
    return LoopMonitor(alarm=mode == "alarm")


async def watching(monitor: LoopMonitor, mode: str | None) -> None:
    await until(monitor.watching.is_set)
    if mode is not None:
        assert monitor.mode == mode


@pytest.mark.parametrize("mode", MODES)
async def test_blocking_callback_is_named_in_a_warning(
    caplog: pytest.LogCaptureFixture, mode: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.loop")
    monitor = make_monitor(mode)
    task = asyncio.create_task(monitor.run(), name="monitor")
    await watching(monitor, mode)
    asyncio.get_running_loop().call_soon(blocking_callback)
    await until(lambda: monitor.blocks >= 1 and monitor.max_lag >= 0.25, timeout=5)
    asyncio.get_running_loop().call_soon(blocking_callback)  # the same culprit again
    await until(lambda: monitor.blocks >= 2, timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    [record] = [r for r in caplog.records if "event loop blocked" in r.getMessage()]  # once a minute
    message = record.getMessage()
    assert "callback blocking_callback" in message
    assert "time.sleep(0.4)" in message  # its stack
    assert monitor.take_max() >= 0.25  # the lag gauge saw it too


@pytest.mark.parametrize("mode", MODES)
async def test_every_block_over_the_threshold_is_caught_and_measured_from_its_start(
    caplog: pytest.LogCaptureFixture, mode: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.loop")
    monitor = make_monitor(mode)
    task = asyncio.create_task(monitor.run(), name="monitor")
    await watching(monitor, mode)
    for n in range(1, 6):  # twice the threshold: room for a late helper thread on a busy CI
        block_the_loop(0.2)
        await until(functools.partial(reported, monitor, n), timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert monitor.blocks == 5
    blocked = [float(m.group(1)) for r in caplog.records
               if (m := re.search(r"event loop blocked for ([0-9.]+)s", r.getMessage()))]
    assert len(blocked) == 5 and min(blocked) >= 0.2, blocked  # from the start of the block


@pytest.mark.parametrize("mode", MODES)
async def test_short_passes_between_long_idle_waits_are_no_block(mode: str) -> None:
    """20 ms of work, then 150 ms waiting for a timer, over and over: a look that lands in the
    work and looks again 100 ms later finds the loop idle in select(), not blocked (and the
    alarm armed in a pass is disarmed before the loop waits)."""
    monitor = make_monitor(mode)
    task = asyncio.create_task(monitor.run(), name="monitor")
    await watching(monitor, mode)
    for _ in range(25):
        block_the_loop(0.02)
        await asyncio.sleep(0.15)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert monitor.blocks == 0


@pytest.mark.parametrize("mode", MODES)
async def test_monitors_started_and_stopped_in_any_order_share_one_pass_clock(
        mode: str) -> None:
    """A reload (or two gateways in one loop) starts a second monitor while the first still
    runs, then stops the first: the second must go on seeing passes, not a stale one. (With
    the first holding SIGALRM, the second watches with a thread.)"""
    first, second = make_monitor(mode), make_monitor(mode)
    first_task = asyncio.create_task(first.run(), name="first")
    await watching(first, mode)
    second_task = asyncio.create_task(second.run(), name="second")
    await watching(second, "thread")
    first_task.cancel()
    await asyncio.gather(first_task, return_exceptions=True)
    await asyncio.sleep(0.5)  # an idle loop: five looks of the second monitor's thread
    assert second.blocks == 0  # nothing blocked
    block_the_loop(0.2)
    await until(lambda: second.blocks >= 1, timeout=5)
    second_task.cancel()
    await asyncio.gather(second_task, return_exceptions=True)
    assert second.blocks == 1


@pytest.mark.parametrize("mode", MODES)
async def test_blocking_task_is_named_in_a_warning(
    caplog: pytest.LogCaptureFixture, mode: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.loop")
    monitor = make_monitor(mode)
    task = asyncio.create_task(monitor.run(), name="monitor")

    async def hog() -> None:
        await watching(monitor, mode)  # the monitor watches
        blocking_callback()

    hogging = asyncio.create_task(hog(), name="device[hog]")
    await until(lambda: monitor.blocks >= 1, timeout=5)
    await hogging
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    message = next(r.getMessage() for r in caplog.records if "event loop blocked" in r.getMessage())
    assert "task 'device[hog]' at blocking_callback" in message


async def test_debug_asyncio_flag(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_config(tmp_path / "c.toml",
                          base_config(mosquitto.port, "dbg") + simulated("den", 0.1))
    seen = False
    with DaemonProcess(config, args=("--debug-asyncio",)) as daemon:
        assert daemon.proc is not None and daemon.proc.stdout is not None
        async with asyncio.timeout(15):
            while "running:" not in (line := await asyncio.to_thread(daemon.proc.stdout.readline)):
                assert line
                seen = seen or "asyncio debug mode" in line
        daemon.signal(signal.SIGTERM)
        code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0 and seen, output


async def test_the_daemon_reports_a_blocked_loop(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    from support.inproc import running, settings_from

    caplog.set_level(logging.WARNING, logger="gateway.loop")
    text = base_config(mosquitto.port, "blocked") + simulated("den", 0.05)
    async with running(settings_from(tmp_path, text)) as gateway:
        await until(gateway.ops.loop_monitor.watching.is_set)  # it watches
        asyncio.get_running_loop().call_soon(blocking_callback)
        await until(lambda: gateway.ops.loop_monitor.blocks >= 1, timeout=5)
        assert gateway.ops.stats.snapshot()["loop"]["blocks"] == 1
    assert any("callback blocking_callback" in r.getMessage() for r in caplog.records)
