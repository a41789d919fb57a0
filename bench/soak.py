"""Fault soak: the faults of tests/faults, over and over, for as long as you like.

    python -m bench.soak --minutes 30 [--flap-every 120] [--results bench/RESULTS.md]

Runs its own Mosquitto (persistence on, max_queued_messages raised) and the real daemon with the
disk outbox (200 readings/s steady + a calm device), a subscriber with a persistent session
counting ``seq``, and cycles through faults every ``--flap-every`` seconds: broker stop/restart,
broker SIGSTOP/SIGCONT (half-open), daemon SIGKILL while the broker is down + restart. Reports
readings, lost, duplicates, recovery time per fault, and the daemon's RSS trend; first it
measures the event-loop lag while the outbox writes at full rate (in process). Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiomqtt

from bench.broker import Broker
from gateway.delivery.buffer import Entry
from gateway.delivery.outbox import DiskOutbox

REPO = Path(__file__).resolve().parents[1]
ROOT = "sensor-gateway/soak"
STEADY = f"{ROOT}/steady/temperature"
SECTION = "## Fault soak (bench/soak.py)"
SECTION_NO_KILL = "## Fault soak, one daemon process (bench/soak.py --no-kill)"


class Daemon:
    def __init__(self, workdir: Path, port: int) -> None:
        self.db = workdir / "outbox.db"
        self.config = workdir / "config.toml"
        self.log = workdir / "daemon.log"
        self.config.write_text(
            f'[gateway]\nid = "soak"\nshutdown_timeout = 10\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\nreconnect_delay_max = 1\n'
            f'[buffer]\npath = "{self.db}"\nmax_readings = 1000000\n'
            f'[[devices]]\nid = "steady"\ndriver = "simulated"\ninterval = 0.01\n'
            f'sensors = ["temperature", "humidity"]\n'
            f'[[devices]]\nid = "calm"\ndriver = "simulated"\ninterval = 0.5\n'
            f'sensors = ["co2"]\n')
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.config)],
                env=env, stdout=out, stderr=subprocess.STDOUT)

    def rss_kib(self) -> int | None:
        assert self.proc is not None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(60)


@dataclass
class Counts:
    seqs: dict[str, list[int]] = field(default_factory=dict)
    last_ts: float = 0.0  # read time of the newest reading received
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def record(counts: Counts, message: aiomqtt.Message) -> None:
    payload = message.payload
    if not isinstance(payload, bytes) or not payload.startswith(b"{"):
        return
    body = json.loads(payload)
    counts.seqs.setdefault(str(message.topic), []).append(body["seq"])
    if str(message.topic) == STEADY:
        ts = datetime.fromisoformat(body["ts"].replace("Z", "+00:00"))
        counts.last_ts = max(counts.last_ts, ts.timestamp())
    counts.changed.set()


async def subscribe(port: int, counts: Counts, connected: asyncio.Event) -> None:
    while True:
        client = aiomqtt.Client("127.0.0.1", port, identifier="soak-sub", clean_session=False,
                                keepalive=5, max_queued_incoming_messages=0)
        with contextlib.suppress(aiomqtt.MqttError):
            async with client:
                await client.subscribe(f"{ROOT}/+/+", qos=1)
                connected.set()
                async for message in client.messages:
                    record(counts, message)
        # paho acknowledged these on receipt; aiomqtt's iterator stops at a disconnect without
        # handing them out. Count them, or the subscriber itself would lose them.
        queue = client._queue
        while not queue.empty():
            record(counts, queue.get_nowait())
        connected.clear()
        await asyncio.sleep(0.2)


async def live_after(counts: Counts, since: float) -> float:
    """Seconds from ``since`` (wall clock) until a steady reading read after it arrives: its
    backlog has drained (one FIFO per device) and live readings flow again."""
    async with asyncio.timeout(120):
        while counts.last_ts <= since:
            counts.changed.clear()
            await counts.changed.wait()
    return time.time() - since


async def fault_broker_restart(broker: Broker, daemon: Daemon, counts: Counts) -> float:
    broker.stop()
    await asyncio.sleep(5)
    broker.start()
    return await live_after(counts, time.time())


async def fault_broker_sigstop(broker: Broker, daemon: Daemon, counts: Counts) -> float:
    broker.signal(signal.SIGSTOP)
    await asyncio.sleep(10)
    broker.signal(signal.SIGCONT)
    return await live_after(counts, time.time())


async def fault_daemon_sigkill(broker: Broker, daemon: Daemon, counts: Counts) -> float:
    broker.stop()
    await asyncio.sleep(3)
    daemon.kill()
    broker.start()
    daemon.start()
    return await live_after(counts, time.time())


FAULTS = {
    "broker stop 5 s + restart": fault_broker_restart,
    "broker SIGSTOP 10 s + SIGCONT": fault_broker_sigstop,
    "daemon SIGKILL, broker down 3 s": fault_daemon_sigkill,
}


async def loop_lag(seconds: float, rate: int) -> dict[str, float]:
    """Event-loop lag (p50/p99/max, ms) while a DiskOutbox takes ``rate`` readings/s and a
    consumer takes and acks them: the SQLite work runs in its thread, the loop stays free."""
    lags: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with DiskOutbox(Path(tmp) / "lag.db", max_readings=10_000_000) as outbox, \
                asyncio.TaskGroup() as tg:
            upkeep = tg.create_task(outbox.run(), name="outbox")
            payload = b'{"value": 21.53, "unit": "\xc2\xb0C", "ts": "2026-11-29T21:00:00.000Z"}'

            async def produce() -> int:
                n, tick = 0, 0.01
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    for _ in range(int(rate * tick)):
                        n += 1
                        outbox.put(Entry(f"{ROOT}/lag/s{n % 10}", payload, "lag"))
                    await asyncio.sleep(tick)
                return n

            async def consume() -> None:
                while True:
                    outbox.ack_many(await outbox.get(1000))

            async def probe() -> None:
                while True:
                    start = time.perf_counter()
                    await asyncio.sleep(0.005)
                    lags.append((time.perf_counter() - start - 0.005) * 1000)

            consumer = tg.create_task(consume(), name="consume")
            prober = tg.create_task(probe(), name="probe")
            produced = await produce()
            for task in (consumer, prober, upkeep):
                task.cancel()
        commits = outbox.commits
    lags.sort()
    return {"readings/s": produced / seconds, "commits": commits,
            "p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99)], "max": lags[-1]}


def report_counts(counts: Counts, db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        produced = dict(conn.execute("SELECT topic, seq FROM seqs").fetchall())
        left = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    readings = lost = dups = 0
    missing: list[str] = []
    for topic, n in produced.items():
        got = counts.seqs.get(topic, [])
        readings += n
        gaps = sorted(set(range(1, n + 1)) - set(got))
        lost += len(gaps)
        missing += [f"{topic.rsplit('/', 2)[-2]}:{seq}" for seq in gaps[:20]]
        dups += len(got) - len(set(got))
    return {"readings": readings, "lost": lost, "duplicates": dups, "left in outbox": left,
            "missing": " ".join(missing)}


FLAT = 0.02  # memory is flat when RSS grows by at most 2 % over the second half of the run


def rss_trend(samples: list[int]) -> tuple[str, bool]:
    """RSS (KiB, one sample each 10 s) at a tenth of the run (after start-up and the first
    faults), at half and at the end, and whether it is flat: the first faults make the allocators
    and SQLite's cache grow to their working size; after that a leak is growth that goes on."""
    if len(samples) < 10:
        return "n/a (too short)", True
    early, mid = samples[len(samples) // 10] / 1024, samples[len(samples) // 2] / 1024
    end = statistics.mean(samples[-3:]) / 1024
    growth = end - mid
    flat = growth <= FLAT * mid
    return (f"{early:.1f} MiB at a tenth of the run, {mid:.1f} at half, {end:.1f} at the end: "
            f"{growth:+.1f} MiB ({growth / mid:+.1%}) over the second half "
            f"({'flat' if flat else 'GROWING'})"), flat


async def sample_rss(daemon: Daemon, rss: list[int]) -> None:
    while True:
        await asyncio.sleep(10)
        if (value := daemon.rss_kib()) is not None:
            rss.append(value)


async def soak(
    minutes: float, flap_every: float, lag_seconds: float, lag_rates: list[int], no_kill: bool,
    keep: Path | None = None,
) -> dict[str, object]:
    lags = []
    for rate in lag_rates:
        lag = await loop_lag(lag_seconds, rate)
        lags.append(lag)
        print(f"loop lag at {lag['readings/s']:.0f} readings/s into the outbox: p50 "
              f"{lag['p50']:.2f} ms, p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms", flush=True)
    recoveries: dict[str, list[float]] = {name: [] for name in FAULTS}
    rss: list[int] = []
    with contextlib.ExitStack() as stack:
        work = keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        broker = Broker(work / "broker", persistence=True)
        broker.start()
        daemon = Daemon(work, broker.port)
        counts, connected = Counts(), asyncio.Event()
        try:
            result = await _run(broker, daemon, counts, connected, minutes, flap_every, rss,
                                recoveries, no_kill)
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.proc.kill()
            broker.stop()
    trend, flat = rss_trend(rss) if no_kill else (
        "n/a (SIGKILLed and restarted: see the --no-kill run)", True)
    return {"minutes": minutes, "flap_every": flap_every, "no_kill": no_kill, **result,
            "recoveries": recoveries, "rss": trend, "flat": flat, "lags": lags}


async def _run(broker: Broker, daemon: Daemon, counts: Counts, connected: asyncio.Event,
               minutes: float, flap_every: float, rss: list[int],
               recoveries: dict[str, list[float]], no_kill: bool) -> dict[str, object]:
    async with asyncio.TaskGroup() as tg:
        sub = tg.create_task(subscribe(broker.port, counts, connected), name="subscriber")
        await connected.wait()
        daemon.start()
        sampler = tg.create_task(sample_rss(daemon, rss), name="rss")
        started = time.monotonic()
        end = started + minutes * 60
        names = [n for n in FAULTS if not (no_kill and "SIGKILL" in n)]
        n = 0
        next_fault = started + flap_every
        while time.monotonic() < end:
            await asyncio.sleep(1)
            if time.monotonic() >= next_fault and time.monotonic() < end - 30:
                name = names[n % len(names)]
                n += 1
                took = await FAULTS[name](broker, daemon, counts)
                recoveries[name].append(took)
                print(f"{(time.monotonic() - started) / 60:5.1f} min  {name}: live again "
                      f"after {took:.2f} s", flush=True)
                next_fault = time.monotonic() + flap_every
        sampler.cancel()
        code = daemon.terminate()
        produced = report_counts(counts, daemon.db)
        deadline = time.monotonic() + 60  # let the subscriber catch up with the last ones
        while produced["lost"] and time.monotonic() < deadline:
            await asyncio.sleep(1)
            produced = report_counts(counts, daemon.db)
        sub.cancel()
    return {"exit": code, **produced}


def markdown(result: dict[str, object]) -> str:
    lags = result["lags"]
    recoveries = result["recoveries"]
    assert isinstance(lags, list)
    assert isinstance(recoveries, dict)
    no_kill = bool(result["no_kill"])
    lines = [
        SECTION_NO_KILL if no_kill else SECTION, "",
        f"`python -m bench.soak --minutes {result['minutes']:g} --flap-every "
        f"{result['flap_every']:g}{' --no-kill' if no_kill else ''}` on this machine "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}): daemon with the disk outbox, 200 "
        "readings/s steady + 2/s calm, real Mosquitto (persistence), subscriber with a "
        "persistent session counting seq; a fault every flap interval.", "",
        "| fault | times | recovery (live again) median / max |", "|---|---|---|",
    ]
    for name, took in recoveries.items():
        if took:
            lines.append(f"| {name} | {len(took)} | {statistics.median(took):.2f} s / "
                         f"{max(took):.2f} s |")
    lines += [
        "", "| readings | lost | duplicates | left in outbox | daemon RSS |",
        "|---|---|---|---|---|",
        f"| {result['readings']} | {result['lost']} | {result['duplicates']} | "
        f"{result['left in outbox']} | {result['rss']} |", "",
        "Event-loop lag while the outbox takes readings (in process, before the soak: put, "
        "commit in its thread, get, ack; the producer's own work on the loop included):", "",
        "| readings/s into the outbox | commits | lag p50 | p99 | max |", "|---|---|---|---|---|",
        *(f"| {lag['readings/s']:.0f} | {lag['commits']:.0f} | {lag['p50']:.2f} ms | "
          f"{lag['p99']:.2f} ms | {lag['max']:.2f} ms |" for lag in lags), "",
        "*lost*: seq numbers never received, after the final graceful stop (the outbox's seqs "
        "table says how many each topic produced). The readings of the last commit interval "
        "before each SIGKILL are never published and their seq is used again, so they do not "
        "show here (README, Delivery guarantees). *duplicates*: the in-flight window sent "
        "again after a fault. *recovery*: from the end of the fault until a reading of the "
        "steady device read after it arrives (its backlog drained).", "",
    ]
    return "\n".join(lines)


def write_results(path: Path, section: str) -> None:
    """Replace this section (found by its heading line) or append it."""
    heading = section.split("\n", 1)[0]
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find(heading + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--flap-every", type=float, default=120, help="seconds between faults")
    parser.add_argument("--lag-seconds", type=float, default=10)
    parser.add_argument("--lag-rate", type=int, nargs="+", default=[20_000, 200_000],
                        help="readings/s into the outbox (one measurement each; the highest "
                             "is more than one process produces: as fast as it goes)")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    parser.add_argument("--keep", type=Path,
                        help="work in this folder and keep it (daemon and broker logs)")
    parser.add_argument("--no-kill", action="store_true",
                        help="no daemon SIGKILL: one process all along (for the memory trend)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up the processes
    result = asyncio.run(soak(args.minutes, args.flap_every, args.lag_seconds, args.lag_rate,
                              args.no_kill, args.keep))
    section = markdown(result)
    print(section)
    if result["lost"]:
        print(f"missing (first ones per topic): {result['missing']}")
    if args.results:
        write_results(args.results, section)
    sys.exit(0 if result["lost"] == 0 and result["exit"] == 0 and result["flat"] else 1)


if __name__ == "__main__":
    main()
