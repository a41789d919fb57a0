"""The scenarios of issue 7. Each returns table rows; a failing scenario becomes an error row."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiomqtt
import orjson

from bench import configs, procs


@dataclass
class Row:
    scenario: str
    result: str
    target: str = ""
    met: bool | None = None  # None: no target, or not measured
    ratio: str = ""


@dataclass
class Params:
    port: int
    workdir: Path
    quick: bool

    def pick(self, quick: float, full: float) -> float:
        return quick if self.quick else full


NA_DISK = "n/a (no disk outbox yet)"


def c_reference(p: Params, binary: Path, results: dict[str, float]) -> list[Row]:
    count = int(p.pick(20_000, 300_000))
    rows = []
    for qos in (1, 0):
        run = procs.c_client(binary, p.port, qos, count)
        results[f"c{qos}"] = run["rate"]
        rows.append(Row(f"C libmosquitto publisher, QoS {qos}",
                        f"{run['rate']:,.0f} msg/s ({run['cpu_us']:.1f} us CPU/msg)"))
    return rows


def throughput(p: Params, results: dict[str, float], *, qos: int, disk: bool,
               client: str = "lean") -> list[Row]:
    where = "disk outbox" if disk else "memory buffer"
    if client != "lean":
        where += f", {client} fallback path"
    name = f"readings/s acked, QoS {qos}, {where}"
    target = ">= 50 000 and >= 30 % of C" if qos == 1 and disk and client == "lean" else ""
    if disk and not configs.disk_outbox_available():
        return [Row(name, NA_DISK, target)]
    run = _capacity(p, f"rate-q{qos}-{client}", qos=qos, disk=disk, client=client)
    c_rate = results.get(f"c{qos}", 0.0)
    share = run["rate"] / c_rate if c_rate else 0.0
    met = run["rate"] >= 50_000 and share >= 0.3 if target else None
    rows = [Row(name, f"{run['rate']:,.0f} /s", target, met, f"{share:.0%} of C")]
    cpu_target = "<= 20 us" if qos == 1 and client == "lean" else ""
    rows.append(Row(f"CPU per reading, QoS {qos}, {where} (whole process)",
                    f"{run['cpu_us']:.1f} us", cpu_target,
                    run["cpu_us"] <= 20 if cpu_target else None))
    return rows


def _capacity(p: Params, name: str, *, qos: int = 1, disk: bool,
              client: str = "lean") -> dict[str, float]:
    """The harness's ``rate`` run: the bench driver floods, as fast as the publisher takes."""
    text = configs.gateway(p.port, qos=qos, inflight=1000, extra_mqtt=f'client = "{client}"',
                           buffer=configs.disk(p.workdir, name) if disk else "")
    text += configs.flood()
    config = configs.write(p.workdir, f"{name}-{'disk' if disk else 'mem'}", text)
    return procs.harness(config, "rate", p.pick(1, 6))


def overload(p: Params, results: dict[str, float], *, disk: bool) -> list[Row]:
    """200 simulated devices x 5 sensors every 2 ms (~500 000 readings/s offered: several
    times what one process publishes), QoS 1, the default buffer bounds: the real driver, no
    bench brake. Backpressure sheds at the source (gateway.delivery.flow)."""
    where = "disk outbox" if disk else "memory buffer"
    if disk and not configs.disk_outbox_available():
        return [Row(f"overload, {where}", NA_DISK)]
    text = (configs.gateway(p.port, inflight=1000, max_readings=100_000,
                            buffer=configs.disk(p.workdir, "overload") if disk else "")
            + configs.simulated("ov", count=200, sensors=5, interval=0.002))
    config = configs.write(p.workdir, f"overload-{'disk' if disk else 'mem'}", text)
    seconds = p.pick(3, 10)
    # the capacity it is compared with, measured right before it: this machine's speed drifts
    # by more than the target's margin within the minutes between two scenarios
    capacity = _capacity(p, "capacity-before-overload", disk=disk)["rate"]
    sub = procs.subscriber(p.port, "sensor-gateway/bench/light0/+", int(seconds + 25),
                           "sensor-gateway/bench/light1/+")
    try:  # the harness in a thread: the subscriber's output is read while it runs
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(procs.harness, config, "overload", seconds)
            out = procs.output_within(sub, seconds + 40)
            run = running.result()
    finally:
        procs.stop(sub)
    back = _recovered(out, run["stopped"])
    c_rate = results.get("c1", 0.0)
    of_capacity = run["rate"] / capacity if capacity else 0.0
    of_c = run["rate"] / c_rate if c_rate else 0.0
    lag, rss = run["lag_p99"] * 1000, run["rss_peak_mb"]
    rows = [
        Row(f"overload x200 devices x5 sensors @2 ms, {where}: readings/s acked",
            f"{run['rate']:,.0f} /s ({run['shed']:,} shed)", ">= 70 % of capacity, >= 30 % of C",
            of_capacity >= 0.7 and of_c >= 0.3,
            f"{of_capacity:.0%} of capacity ({capacity:,.0f} /s just before), {of_c:.0%} of C"),
        Row(f"overload, {where}: event-loop lag p99", f"{lag:.1f} ms", "<= 50 ms", lag <= 50),
        Row(f"overload, {where}: peak RSS", f"{rss:.0f} MB", "<= 150 MB", rss <= 150),
    ]
    if not disk:  # the latency target is the memory buffer's (the outbox commits every 0.1 s)
        rows.append(Row("after the overload: p99 <= 5 ms again at 1 000 readings/s",
                        f"after {back:.1f} s", "<= 5 s", back <= 5))
    return rows


def _recovered(out: str, stopped: float, window: float = 0.5) -> float:
    """Seconds from ``stopped`` until the first ``window`` of readings (read -> subscriber)
    with p99 <= 5 ms; inf if none. ``out``: mosquitto_sub's ``%U %p`` lines."""
    windows: dict[int, list[float]] = {}
    for line in out.splitlines():
        stamp, _, payload = line.partition(" ")
        if payload.startswith("{"):
            ts = datetime.fromisoformat(orjson.loads(payload)["ts"]).timestamp()
            if ts >= stopped:
                windows.setdefault(int((ts - stopped) / window), []).append(float(stamp) - ts)
    for index in sorted(windows)[:-1]:  # the last window may be cut short
        lags = sorted(windows[index])
        if len(lags) >= 100 and lags[int(len(lags) * 0.99)] <= 0.005:
            return index * window
    return math.inf


async def _first_json(client: aiomqtt.Client, on_message: Callable[[float, bytes], bool]) -> None:
    async for message in client.messages:
        payload = message.payload
        if (isinstance(payload, bytes) and payload.startswith(b"{")
                and on_message(time.time(), payload)):
            return


def _latency(p: Params, seconds: float, devices: int, interval: float) -> list[float]:
    """The subscriber is Mosquitto's own C client (``mosquitto_sub -F %U``: arrival time in
    microseconds), so the measure is not the cost of a Python subscriber. Readings arriving in
    the first second (half a second with --quick: start-up) are left out."""
    config = configs.write(p.workdir, "latency", configs.gateway(p.port)
                           + configs.simulated("lat", count=devices, sensors=10,
                                               interval=interval))
    warm = p.pick(0.5, 1.0)
    sub = procs.subscriber(p.port, "sensor-gateway/bench/+/+", math.ceil(seconds + warm + 1))
    try:
        daemon = procs.daemon(config)
        try:
            out = procs.output_within(sub, seconds + warm + 10)
        finally:
            procs.stop(daemon)
    finally:
        procs.stop(sub)
    arrivals: list[tuple[float, float]] = []
    for line in out.splitlines():
        stamp, _, payload = line.partition(" ")
        if payload.startswith("{"):
            ts = datetime.fromisoformat(orjson.loads(payload)["ts"]).timestamp()
            arrivals.append((float(stamp), (float(stamp) - ts) * 1000))
    if not arrivals:
        return []
    start = arrivals[0][0] + warm
    return [latency for arrived, latency in arrivals if start <= arrived < start + seconds]


LATENCY_SHAPES = [
    # (label, devices of 10 sensors, interval): both are 1 000 readings/s
    ("10 sensors every 10 ms", 1, 0.01),
    ("10 devices x 10 sensors every 100 ms, in step: bursts of 100", 10, 0.1),
]


def latency(p: Params) -> list[Row]:
    rows = []
    for index, (shape, devices, interval) in enumerate(LATENCY_SHAPES):
        seconds = p.pick(1, 10)
        values = _latency(p, seconds, devices, interval)
        name = f"latency read -> subscriber at 1 000 readings/s ({shape})"
        target = "p99 <= 5 ms" if index == 0 else ""
        if len(values) < 100:
            rows.append(Row(name, f"too few readings ({len(values)})", target, False))
            continue
        q = statistics.quantiles(values, n=100)
        rows.append(Row(name, f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms "
                              f"({len(values) / seconds:,.0f}/s, {len(values)} readings)",
                        target, q[98] <= 5 if target else None))
    return rows


IDLE_WINDOWS = 3  # idle CPU: the median of this many windows (this machine is noisy)


def _idle(p: Params, name: str, text: str, seconds: float,
          strace: float = 0) -> tuple[list[float], float, dict[str, int] | None]:
    """CPU (% of one core) of the real daemon in :data:`IDLE_WINDOWS` windows of ``seconds``
    one after the other, and its RSS; then, with ``strace`` seconds, its wake-ups (counted
    apart: strace itself costs CPU)."""
    config = configs.write(p.workdir, name, configs.gateway(p.port) + text)
    daemon = procs.daemon(config)
    cpu = []
    try:
        time.sleep(p.pick(1.5, 5))  # start-up and first reads are not the steady state
        for _ in range(int(p.pick(1, IDLE_WINDOWS))):
            c0, t0 = procs.proc_cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = procs.proc_cpu_seconds(daemon.pid), time.monotonic()
            cpu.append((c1 - c0) / (t1 - t0) * 100)
        rss = procs.proc_rss_mb(daemon.pid)
        calls = procs.wakeups(daemon.pid, strace) if strace else None
    finally:
        procs.stop(daemon)
    return cpu, rss, calls


def _cpu_row(name: str, windows: list[float], seconds: float, limit: float) -> Row:
    """The median window against ``limit``; every window shown."""
    median = statistics.median(windows)
    each = ", ".join(f"{w:.2f}" for w in windows)
    return Row(name, f"{median:.2f} % of one core (median of {len(windows)} x {seconds:.0f} s: "
                     f"{each})", f"<= {limit:g} %", median <= limit)


def _wakeup_row(name: str, calls: dict[str, int] | None, seconds: float) -> Row:
    if calls is None:
        return Row(name, "n/a (no strace, or a --quick run)")
    detail = ", ".join(f"{call} {n}" for call, n in sorted(calls.items()))
    return Row(name, f"{sum(calls.values()) / seconds:.1f} /s ({detail} in {seconds:.0f} s)")


def small_site(p: Params) -> list[Row]:
    seconds, traced = p.pick(2, 60), p.pick(0, 30)
    cpu, rss, calls = _idle(p, "small", configs.simulated("small", 20, 3, 1.0), seconds, traced)
    return [_cpu_row("20 devices x 3 sensors at 1 Hz: CPU", cpu, seconds, 0.15),
            Row("20 devices x 3 sensors at 1 Hz: RSS", f"{rss:.1f} MB", "<= 40 MB", rss <= 40),
            _wakeup_row("20 devices x 3 sensors at 1 Hz: wake-ups (strace: epoll_wait, futex, "
                        "sleeps)", calls, traced)]


def many_devices(p: Params) -> list[Row]:
    seconds = p.pick(1, 60)  # idle measurements: 60 s windows (this machine is noisy)
    cpu, rss, _ = _idle(p, "many", configs.simulated("many", 1000, 3, 1.0), seconds)
    return [Row("1 000 simulated devices (3 sensors, 1 Hz): RSS",
                f"{rss:.1f} MB", "<= 80 MB", rss <= 80),
            _cpu_row("1 000 simulated devices (3 sensors, 1 Hz): CPU", cpu, seconds, 5)]


async def _startup(p: Params) -> float:
    config = configs.write(p.workdir, "startup", configs.gateway(p.port)
                           + configs.simulated("start", 1, 1, 1.0))
    async with aiomqtt.Client("127.0.0.1", p.port) as client:
        await client.subscribe("sensor-gateway/bench/+/+", qos=1)
        t0 = time.time()
        daemon = procs.daemon(config)
        try:
            async with asyncio.timeout(30):
                arrived: list[float] = []

                def first(now: float, _payload: bytes) -> bool:
                    arrived.append(now)
                    return True

                await _first_json(client, first)
        finally:
            procs.stop(daemon)
    return arrived[0] - t0


def startup(p: Params) -> list[Row]:
    seconds = min(asyncio.run(_startup(p)) for _ in range(1 if p.quick else 3))
    return [Row("start to first reading on the broker (process start)", f"{seconds:.2f} s",
                "<= 0.5 s", seconds <= 0.5)]


def drain(p: Params, *, disk: bool) -> list[Row]:
    where = "disk outbox" if disk else "memory buffer"
    name = f"backlog drain, {where}, 1 000 live readings/s continuing"
    if disk and not configs.disk_outbox_available():
        return [Row(name, NA_DISK, ">= 20 000 /s")]
    outbox = configs.disk(p.workdir, "drain") if disk else ""
    text = (configs.gateway(p.port, inflight=1000, buffer=outbox)
            + configs.simulated("live", count=10, sensors=10, interval=0.1))
    config = configs.write(p.workdir, f"drain-{'disk' if disk else 'mem'}", text)
    backlog = int(p.pick(20_000, 200_000))
    run = procs.harness(config, "drain", 10, backlog)
    return [Row(name, f"{run['rate']:,.0f} /s ({run['backlog']:,} in {run['seconds']:.1f} s)",
                ">= 20 000 /s", run["rate"] >= 20_000)]


def serial(p: Params) -> list[Row]:
    link = p.workdir / "ttyBENCH"
    sim = procs.simulator(link)
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            if time.monotonic() > deadline or sim.poll() is not None:
                raise RuntimeError("pty simulator did not start")
            time.sleep(0.02)
        config = configs.write(p.workdir, "serial", configs.gateway(p.port) + configs.serial(link))
        run = procs.harness(config, "rate", p.pick(1, 6))
    finally:
        procs.stop(sim)
    return [Row("serial path: pty simulator (json lines) at max rate",
                f"{run['rate']:,.0f} readings/s acked ({run['cpu_us']:.1f} us CPU/reading, "
                f"{run['errors']} bad frames)")]


def ble(p: Params) -> list[Row]:
    config = configs.write(p.workdir, "ble", configs.gateway(p.port, inflight=1000)
                           + configs.ble())
    run = procs.harness(config, "rate", p.pick(1, 6))
    return [Row("BLE path: 20 simulated Ruuvi tags (adapter = \"simulated\") at max rate",
                f"{run['rate']:,.0f} readings/s acked ({run['cpu_us']:.1f} us CPU/reading, "
                f"{run['errors']} bad adverts)")]
