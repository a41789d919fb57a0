"""The gateway in a child process of the bench, with counters the bench reads at the end.

``python -m bench.harness CONFIG MODE SECONDS [PREFILL]`` runs :class:`gateway.daemon.Gateway`
(exactly what ``sensor-gateway run`` runs, minus the signal handlers) and prints one JSON object.
An in-process harness rather than the daemon binary, because "readings acknowledged by the
broker" is only observable inside the process (the publisher's count of PUBACKed readings); any
external subscriber that counted them would itself be the bottleneck at these rates. Measures
that need no counter (latency, idle CPU, RSS, start-up) run the real daemon process instead.

Modes: ``rate`` (acked readings/s and CPU over SECONDS after a warm-up), ``overload`` (``rate``
under the config's real drivers offering more than the broker takes, plus the event loop's lag
p99 (a 10 ms probe timer), peak RSS, readings shed; then the drivers stop and a light load of
1 000 readings/s runs on, whose latency the bench measures with a subscriber),
``drain`` (an outage:
the publisher is held back while PREFILL readings go through a device's encode path into the
running buffer (memory or disk outbox); then it connects, live readings continuing, and the
time until the backlog is gone is measured).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from gateway.core import registry

registry.BUILTIN["bench"] = "bench.driver"  # bench-only driver kind, this process only

from bench import driver  # noqa: E402
from gateway.cli.main import settle_heap  # noqa: E402
from gateway.config import Settings, load_config  # noqa: E402
from gateway.core.device import Device  # noqa: E402
from gateway.core.readings import Measurement  # noqa: E402
from gateway.core.resources import SharedResources  # noqa: E402
from gateway.daemon import Gateway  # noqa: E402

WARMUP = 1.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def backlog(gateway: Gateway) -> int:
    stats = gateway.buffer.stats()
    return stats.queued + stats.inflight


def prefill(gateway: Gateway, shared: SharedResources, count: int) -> None:
    """A backlog as an outage leaves it: readings encoded by a Device, waiting in the buffer."""
    template = gateway.settings.expanded_devices()[0]
    config = template.model_copy(update={"id": "backlog"})
    device = Device(config, gateway.buffer, topics=gateway.topics, shared=shared,
                    on_status=lambda _id, _online: None)
    names = [f"s{n}" for n in range(10)]
    now = time.time()
    for i in range(count // len(names)):
        device.emit([Measurement(name, 20.0 + (i % 100) / 10, "°C") for name in names], now)


async def measure_rate(gateway: Gateway, seconds: float) -> dict[str, float]:
    await gateway.publisher.connected.wait()
    await asyncio.sleep(WARMUP)
    n0, c0, t0 = gateway.publisher.published, cpu_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    n1, c1, t1 = gateway.publisher.published, cpu_seconds(), time.perf_counter()
    acked = n1 - n0
    return {"acked": acked, "seconds": t1 - t0, "rate": acked / (t1 - t0),
            "cpu_us": (c1 - c0) / max(acked, 1) * 1e6, "cpu_share": (c1 - c0) / (t1 - t0)}


async def lag_probe(lags: list[float], period: float = 0.01) -> None:
    """How late a 10 ms timer fires: the event loop's lag, as a reading or a status feels it."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period
        await asyncio.sleep(period)
        lags.append(loop.time() - due)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


AFTER = 8.0  # seconds of light load after the overload (its latency: bench/scenarios.py)


async def measure_overload(gateway: Gateway, seconds: float) -> dict[str, float]:
    lags: list[float] = []
    async with asyncio.TaskGroup() as tg:
        probe = tg.create_task(lag_probe(lags), name="bench.lag-probe")
        await gateway.publisher.connected.wait()
        await asyncio.sleep(WARMUP)
        lags.clear()
        result = await measure_rate(gateway, seconds)
        result["lag_p99"] = p99(lags)
        probe.cancel()
    result["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["shed"] = sum(d.shed for d in gateway.devices.values())
    result["stopped"] = await light_load(gateway)
    return result


async def light_load(gateway: Gateway) -> float:
    """The overload stops: its devices are stopped, 1 000 readings/s go on (devices ``light0``
    and ``light1``, 5 sensors at 10 ms) for :data:`AFTER` seconds. When it stopped (epoch)."""
    template = gateway.settings.expanded_devices()[0]
    for device_id in list(gateway.devices):
        await gateway.stop_device(device_id)
    stopped = time.time()
    for n in range(2):
        gateway.start_device(template.model_copy(update={"id": f"light{n}", "interval": 0.01}))
    await asyncio.sleep(AFTER)
    return stopped


async def measure_drain(gateway: Gateway, seconds: float) -> dict[str, float]:
    await gateway.publisher.connected.wait()
    n0, t0 = gateway.publisher.published, time.perf_counter()
    start = backlog(gateway)
    async with asyncio.timeout(max(seconds * 20, 60)):
        while backlog(gateway) > 500:  # noqa: ASYNC110 - polls the gateway's buffer
            await asyncio.sleep(0.005)
    n1, t1 = gateway.publisher.published, time.perf_counter()
    return {"backlog": start, "acked": n1 - n0, "seconds": t1 - t0,
            "rate": (n1 - n0) / (t1 - t0)}


async def main(settings: Settings, mode: str, seconds: float, fill: int) -> dict[str, object]:
    gateway = Gateway(settings)
    driver.BACKLOG[0] = lambda: backlog(gateway)
    stop, outage_over = asyncio.Event(), asyncio.Event()
    connect = gateway.publisher.run

    async def after_outage() -> None:
        await outage_over.wait()
        await connect()

    gateway.publisher.run = after_outage  # type: ignore[method-assign]
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(gateway.run(stop), name="bench.gateway")
        await gateway.ready.wait()  # the buffer is open, the devices run
        if fill:
            prefill(gateway, SharedResources(tg), fill)
        outage_over.set()
        try:
            if mode == "drain":
                result: dict[str, object] = dict(await measure_drain(gateway, seconds))
            elif mode == "overload":
                result = dict(await measure_overload(gateway, seconds))
            else:
                result = dict(await measure_rate(gateway, seconds))
        finally:
            stop.set()
        result["rss_mb"] = rss_mb()
        result["dropped"] = sum(gateway.buffer.stats().dropped.values())
        result["errors"] = sum(sum(d.errors.values()) for d in gateway.devices.values())
        await run
    return result


if __name__ == "__main__":
    loaded = load_config(Path(sys.argv[1]))  # as `sensor-gateway run` starts, before the loop:
    registry.import_stacks(loaded.expanded_devices())  # the stacks, then the heap settled
    settle_heap()
    out = asyncio.run(main(loaded, sys.argv[2], float(sys.argv[3]),
                           int(sys.argv[4]) if len(sys.argv) > 4 else 0))
    print(json.dumps(out), flush=True)
