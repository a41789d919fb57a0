"""Fleet simulation: many gateway processes against one Mosquitto, and a broker restart.

    python -m bench.fleet [--gateways 50] [--devices 20] [--outage 10] [--record]

Starts its own Mosquitto (persistence on, so queued messages survive its restart), a subscriber
with a persistent session counting every sensor topic's ``seq``, and ``--gateways`` real daemons
(``python -m gateway run``), each with ``--devices`` simulated devices at 1 Hz and a disk outbox.
After a steady window it stops the broker for ``--outage`` seconds and starts it again, then
measures at the broker (its log, one line per CONNECT):

- every gateway back within 30 s of the broker's return, and the reconnects spread out: no more
  than a fifth of the fleet in any one second;
- 0 readings lost (the disk outboxes hold what the broker could not take);
- each gateway's delivered share of the steady window within +-20 % of a fair share;
- RSS per gateway;
- bytes on the wire per reading (client to broker, through a counting relay), per payload mode.

Not part of CI (it takes minutes and needs the machine to itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from bench.broker import Broker, free_port
from bench.procs import ENV, REPO, proc_rss_mb, stop
from bench.report import header, record

ROOT = "fleet"
RECONNECT_BOUND = 30.0  # seconds after the broker's return
SPREAD = 0.2  # at most this share of the fleet reconnects in any one second
FAIRNESS = 0.2  # each gateway within +-20 % of the mean delivered share
RECOVERY_BOUND = 2.0  # one gateway: first reading this soon after the broker's return
# What docs/delivery.md tells a fleet to set: reconnects spread over 15 s after a return.
FLEET_MQTT = "reconnect_spread = 15\n"
_CONNECT = re.compile(r"^(\d+): New client connected from \S+ as (\S+)")


def gateway_config(workdir: Path, index: int, port: int, devices: int,
                   mqtt: str = FLEET_MQTT) -> Path:
    name = f"gw{index:02d}"
    path = workdir / f"{name}.toml"
    path.write_text(
        f'[gateway]\nid = "{name}"\nshutdown_timeout = 20\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n{mqtt}'
        f'topic_root = "{ROOT}/{{gateway_id}}"\n'
        f'[buffer]\npath = "{workdir / name}.db"\n'
        f'[[devices]]\nid = "d"\ndriver = "simulated"\ncount = {devices}\ninterval = 1.0\n'
        f'sensors = ["temperature"]\n')
    return path


def start_gateway(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config),
         "--log-level", "WARNING"],
        cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Seen:
    seqs: dict[str, list[int]] = field(default_factory=dict)
    per_gateway: Counter[str] = field(default_factory=Counter)
    counting: bool = False  # the steady window's per-gateway counts

    def add(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes) or not payload.startswith(b"{"):
            return
        topic = str(message.topic)
        self.seqs.setdefault(topic, []).append(json.loads(payload)["seq"])
        if self.counting:
            self.per_gateway[topic.split("/")[1]] += 1


async def subscribe(port: int, seen: Seen, connected: asyncio.Event) -> None:
    """A persistent QoS 1 session: what arrives while it reconnects waits at the broker."""
    while True:
        client = aiomqtt.Client("127.0.0.1", port, identifier="fleet-sub", clean_session=False,
                                keepalive=5, max_queued_incoming_messages=0)
        with contextlib.suppress(aiomqtt.MqttError):
            async with client:
                await client.subscribe(f"{ROOT}/+/+/+", qos=1)
                connected.set()
                async for message in client.messages:
                    seen.add(message)
        queue = client._queue  # acknowledged by paho, not yet handed out: count them too
        while not queue.empty():
            seen.add(queue.get_nowait())
        connected.clear()
        await asyncio.sleep(0.2)


def connects_since(log: Path, since: float) -> dict[str, float]:
    """Client id -> broker time (whole seconds) of its first CONNECT at or after ``since``."""
    first: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _CONNECT.match(line)
        if match and int(match[1]) >= int(since) and match[2].startswith("sensor-gateway-gw"):
            first.setdefault(match[2], float(match[1]))
    return first


async def wait_for(check: object, limit: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"fleet: timed out waiting for {what}")
        await asyncio.sleep(0.5)


def produced(dbs: list[Path]) -> dict[str, int]:
    """Topic -> last seq, from every gateway's outbox (the readings it committed to)."""
    seqs: dict[str, int] = {}
    for db in dbs:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            seqs.update(dict(conn.execute("SELECT topic, seq FROM seqs").fetchall()))
    return seqs


def losses(seen: Seen, made: dict[str, int]) -> tuple[int, int, int]:
    """(readings, lost, duplicates)."""
    total = lost = dups = 0
    for topic, last in made.items():
        got = seen.seqs.get(topic, [])
        total += last
        lost += len(set(range(1, last + 1)) - set(got))
        dups += len(got) - len(set(got))
    return total, lost, dups


class Relay:
    """A TCP relay that counts the bytes a client sends to the broker."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.port = free_port()
        self.upstream = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    count: bool) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if count:
                    self.upstream += len(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._pipe(reader, up_writer, True), name="relay.up")
            tg.create_task(self._pipe(up_reader, writer, False), name="relay.down")

    async def serve(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        async with server:
            await server.serve_forever()


async def bytes_per_reading(workdir: Path, broker: Broker, mode: tuple[str, str],
                            seconds: float = 20.0) -> float:
    """One gateway (20 devices at 1 Hz) through the counting relay; its bytes per reading.
    ``mode``: keys for its ``[mqtt]`` table, and tables appended to its config. Readings are
    counted from its outbox (the same count in every payload mode: the outbox holds them as
    JSON with a seq per sensor)."""
    relay = Relay(broker.port)
    mqtt, tables = mode
    config = gateway_config(workdir, 99, relay.port, 20, mqtt=FLEET_MQTT + mqtt)
    config.write_text(config.read_text() + tables)
    db = workdir / "gw99.db"
    server = asyncio.create_task(relay.serve(), name="fleet.relay")
    proc = start_gateway(config)
    try:
        await wait_for(lambda: _made(db) >= 40, 60, "the measured gateway")
        bytes0, count0 = relay.upstream, _made(db)
        await asyncio.sleep(seconds)
        return (relay.upstream - bytes0) / max(1, _made(db) - count0)
    finally:
        stop(proc)
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        db.unlink(missing_ok=True)


def _made(db: Path) -> int:
    """Readings the gateway has committed to its outbox so far (0 before it exists)."""
    try:
        return sum(produced([db]).values()) if db.exists() else 0
    except sqlite3.OperationalError:  # created, its tables not yet
        return 0


def _count(seen: Seen, gateway: str) -> int:
    return sum(len(s) for t, s in seen.seqs.items() if f"/{gateway}/" in t)


async def recovery(workdir: Path, outage: float) -> float:
    """One gateway with the default settings, its own broker down for ``outage`` seconds:
    seconds from the broker's return to the first reading it receives."""
    broker = Broker(workdir / "recovery", persistence=True)
    seen, connected = Seen(), asyncio.Event()
    with broker:
        sub = asyncio.create_task(subscribe(broker.port, seen, connected), name="fleet.sub1")
        proc = start_gateway(gateway_config(workdir, 98, broker.port, 20, mqtt=""))
        try:
            await wait_for(lambda: _count(seen, "gw98") >= 40, 60, "the single gateway")
            broker.stop()
            await asyncio.sleep(outage)
            before = _count(seen, "gw98")
            broker.start()
            back = time.monotonic()
            while _count(seen, "gw98") == before:
                if time.monotonic() - back > 60:
                    raise SystemExit("fleet: the single gateway did not come back")
                await asyncio.sleep(0.01)
            return time.monotonic() - back
        finally:
            stop(proc)
            sub.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sub


@dataclass
class Result:
    gateways: int
    devices: int
    outage: float
    recovery: float = 0.0
    back_within: float = 0.0
    worst_second: int = 0
    readings: int = 0
    lost: int = 0
    duplicates: int = 0
    share_min: float = 0.0
    share_max: float = 0.0
    rss_mean: float = 0.0
    rss_max: float = 0.0
    wire: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, str, bool | None]]:
        spread = max(1, int(self.gateways * SPREAD))
        return [
            ("one gateway (default settings): first reading after the broker's return",
             f"{self.recovery:.2f} s", f"<= {RECOVERY_BOUND:.0f} s",
             self.recovery <= RECOVERY_BOUND),
            ("all gateways back after the broker's return", f"{self.back_within:.1f} s",
             f"<= {RECONNECT_BOUND:.0f} s", self.back_within <= RECONNECT_BOUND),
            ("reconnects in the busiest second", f"{self.worst_second} of {self.gateways}",
             f"<= {spread}", self.worst_second <= spread),
            ("readings lost (disk outboxes)", f"{self.lost} of {self.readings}", "0",
             self.lost == 0),
            ("duplicates", str(self.duplicates), "in-flight window only", None),
            ("delivered share, min..max of fair", f"{self.share_min:.2f}..{self.share_max:.2f}",
             f"{1 - FAIRNESS:.1f}..{1 + FAIRNESS:.1f}",
             self.share_min >= 1 - FAIRNESS and self.share_max <= 1 + FAIRNESS),
            ("RSS per gateway, mean / max", f"{self.rss_mean:.1f} / {self.rss_max:.1f} MB", "",
             None),
            *((f"bytes on the wire per reading, {mode}", f"{value:.0f} B", "", None)
              for mode, value in self.wire.items()),
        ]

    def markdown(self) -> str:
        lines = [f"fleet: {self.gateways} gateways x {self.devices} devices at 1 Hz, broker "
                 f"outage {self.outage:.0f} s", "", "| measure | result | target | met |",
                 "|---|---|---|---|"]
        for name, value, target, met in self.rows():
            mark = {True: "yes", False: "**NO**", None: ""}[met]
            lines.append(f"| {name} | {value} | {target} | {mark} |")
        return "\n".join(lines)


WIRE_MODES = {  # name: (keys for [mqtt], tables appended)
    "JSON, MQTT 3.1.1": ("", ""),
    "JSON, MQTT 5 with topic aliases": ("protocol = 5\n", ""),
    "Sparkplug B (protobuf, MQTT 3.1.1)": ("", '[sparkplug]\nenabled = true\ngroup_id = "fleet"\n'),
}


async def fleet(args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(args.gateways, args.devices, args.outage)
    result.recovery = await recovery(workdir, args.outage)
    broker = Broker(workdir / "broker", persistence=True)
    seen, connected = Seen(), asyncio.Event()
    with broker:
        sub = asyncio.create_task(subscribe(broker.port, seen, connected), name="fleet.sub")
        await wait_for(connected.is_set, 20, "the subscriber")
        configs = [gateway_config(workdir, i, broker.port, args.devices)
                   for i in range(args.gateways)]
        procs = [start_gateway(c) for c in configs]
        try:
            await _run(args, result, broker, seen, procs)
            for name, mode in WIRE_MODES.items():
                result.wire[name] = await bytes_per_reading(workdir, broker, mode)
        finally:
            for proc in procs:
                stop(proc)
        await asyncio.sleep(3)  # the last flushed readings reach the subscriber
        sub.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sub
    made = produced([workdir / f"gw{i:02d}.db" for i in range(args.gateways)])
    result.readings, result.lost, result.duplicates = losses(seen, made)
    return result


async def _run(args: argparse.Namespace, result: Result, broker: Broker, seen: Seen,
               procs: list[subprocess.Popen[bytes]]) -> None:
    expected = args.gateways * args.devices
    await wait_for(lambda: len(seen.seqs) >= expected, 120, "every gateway's readings")
    seen.counting = True
    await asyncio.sleep(args.steady)
    seen.counting = False
    counts = [seen.per_gateway[f"gw{i:02d}"] for i in range(args.gateways)]
    fair = statistics.mean(counts)
    result.share_min, result.share_max = min(counts) / fair, max(counts) / fair
    rss = [proc_rss_mb(p.pid) for p in procs]
    result.rss_mean, result.rss_max = statistics.mean(rss), max(rss)
    broker.stop()
    await asyncio.sleep(args.outage)
    broker.start()
    back = time.time()
    log = broker.log
    await wait_for(lambda: len(connects_since(log, back)) >= args.gateways,
                   RECONNECT_BOUND * 3, "every gateway to reconnect")
    times = connects_since(log, back)
    result.back_within = max(times.values()) - int(back)
    result.worst_second = max(Counter(int(t) for t in times.values()).values())
    await asyncio.sleep(args.after)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--outage", type=float, default=10.0, help="broker down, seconds")
    parser.add_argument("--steady", type=float, default=30.0, help="fair-share window")
    parser.add_argument("--after", type=float, default=20.0, help="run on after the restart")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        result = asyncio.run(fleet(args, Path(tmp)))
    text = result.markdown()
    print(text)
    if args.record:
        record(f"## Fleet simulation (bench/fleet.py)\n\n{header(quick=False)}\n\n{text}")
    if any(met is False for *_, met in result.rows()):
        sys.exit(1)


if __name__ == "__main__":
    main()
