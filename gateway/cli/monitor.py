"""``sensor-gateway monitor``: watch a gateway's readings from its broker.

Subscribes to ``<root>/#`` with the config's broker settings (TLS and password included) and
shows every device, its status, each sensor's last value with unit, its age and its rate. On a
terminal it is a live table (rich, imported only here); otherwise one plain line per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from gateway.sdk import run_until_stopped

if TYPE_CHECKING:
    import aiomqtt
    from rich.table import Table

    from gateway.config import Settings

__all__ = ["MonitorState", "add_parser", "run"]

RATE_WINDOW = 60.0  # seconds of history behind the rate column
REFRESH = 0.5  # seconds between two redraws of the live table


@dataclass
class SensorState:
    value: Any = None
    unit: str | None = None
    ts: str = ""
    seen: float = 0.0  # monotonic time of the last message
    first: float | None = None  # ... and of the first one
    times: deque[float] = field(default_factory=deque)

    def update(self, value: Any, unit: str | None, ts: str, now: float) -> None:  # noqa: ANN401
        self.value, self.unit, self.ts, self.seen = value, unit, ts, now
        self.first = now if self.first is None else self.first
        self.times.append(now)
        while self.times and now - self.times[0] > RATE_WINDOW:
            self.times.popleft()

    def rate(self, now: float) -> float:
        """Readings per minute over the last minute (or since first seen); decays when quiet."""
        if len(self.times) < 2 or self.first is None:
            return 0.0
        recent = sum(1 for t in self.times if now - t <= RATE_WINDOW)
        if now - self.first < RATE_WINDOW:  # young: intervals since the first one
            return (recent - 1) / max(now - self.first, 1e-9) * 60
        return recent / RATE_WINDOW * 60


@dataclass
class DeviceState:
    status: str = "?"
    sensors: dict[str, SensorState] = field(default_factory=dict)


def _value_text(value: Any, unit: str | None) -> str:  # noqa: ANN401 - JSON
    return f"{value} {unit}" if unit else f"{value}"


class MonitorState:
    """Everything seen under one topic root; :meth:`handle` returns the plain lines."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.gateway_status = "?"
        self.devices: dict[str, DeviceState] = {}

    def handle(self, topic: str, payload: bytes, now: float) -> list[str]:
        if not topic.startswith(self.root + "/"):
            return []
        parts = topic[len(self.root) + 1:].split("/")
        text = payload.decode("utf-8", "replace").strip()
        if parts == ["status"]:
            self.gateway_status = text
            return [f"gateway: {text}"]
        if parts == ["stats"] or len(parts) > 2:
            return []
        device = self.devices.setdefault(parts[0], DeviceState())
        if parts[1:] == ["status"]:
            device.status = text
            return [f"{parts[0]}: {text}"]
        return self._readings(parts, text, now)

    def _readings(self, parts: list[str], text: str, now: float) -> list[str]:
        try:
            body = json.loads(text)
        except ValueError:
            return []
        if not isinstance(body, dict):
            return []
        if len(parts) == 2 and "value" in body:
            return [self._reading(parts[0], parts[1], body, now)]
        readings = body.get("readings")
        if len(parts) == 1 and isinstance(readings, dict):
            ts = str(body.get("ts", ""))
            extra = {"ts": ts, "seq": body["seq"]} if "seq" in body else {"ts": ts}
            return [self._reading(parts[0], name, {**r, **extra}, now)
                    for name, r in readings.items() if isinstance(r, dict) and "value" in r]
        return []

    def _reading(self, device: str, sensor: str, body: dict[str, Any], now: float) -> str:
        state = self.devices[device].sensors.setdefault(sensor, SensorState())
        unit = body.get("unit")
        state.update(body["value"], unit if isinstance(unit, str) else None,
                     str(body.get("ts", "")), now)
        seq = f" (seq {body['seq']})" if "seq" in body else ""
        return f"{device}/{sensor} = {_value_text(state.value, state.unit)} at {state.ts}{seq}"

    def rows(self, now: float) -> Iterator[tuple[str, str, str, str, str, str]]:
        """(device, status, sensor, value, age, rate) for the table, sorted."""
        for name in sorted(self.devices):
            device = self.devices[name]
            if not device.sensors:
                yield name, device.status, "", "", "", ""
            for sensor_name in sorted(device.sensors):
                s = device.sensors[sensor_name]
                yield (name, device.status, sensor_name, _value_text(s.value, s.unit),
                       f"{now - s.seen:.1f}s", f"{s.rate(now):.1f}/min")


def _table(state: MonitorState) -> Table:
    from rich.table import Table  # noqa: PLC0415 - rich only for the live view

    now = time.monotonic()
    table = Table(title=f"{state.root}  (gateway {state.gateway_status})")
    for column in ("device", "status", "sensor", "value", "age", "rate"):
        table.add_column(column, justify="right" if column in ("age", "rate") else "left")
    for row in state.rows(now):
        style = "red" if row[1] == "offline" else None
        table.add_row(*row, style=style)
    return table


def _client(settings: Settings, host: str, port: int) -> aiomqtt.Client:
    import aiomqtt  # noqa: PLC0415

    from gateway.mqtt.publisher import build_tls_context  # noqa: PLC0415

    mqtt = settings.mqtt
    secret = mqtt.secret()
    return aiomqtt.Client(
        host, port, username=mqtt.username,
        password=secret.get_secret_value() if secret else None,
        tls_context=build_tls_context(mqtt) if mqtt.tls else None, keepalive=mqtt.keepalive)


async def _watch(settings: Settings, state: MonitorState, out: IO[str] | None) -> None:
    """Receive forever, reconnecting; print plain lines to ``out`` (None: live table)."""
    import aiomqtt  # noqa: PLC0415

    from gateway.config import format_host_port  # noqa: PLC0415
    from gateway.core.backoff import Backoff  # noqa: PLC0415

    backoff = Backoff(0.5, 10.0)
    addresses = settings.mqtt.addresses
    attempt = 0
    while True:
        host, port = addresses[attempt % len(addresses)]
        try:
            async with _client(settings, host, port) as client:
                backoff.reset()
                await client.subscribe(f"{state.root}/#", qos=1)
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    lines = state.handle(message.topic.value, payload, time.monotonic())
                    if out is not None:
                        stamp = time.strftime("%H:%M:%S")
                        for line in lines:
                            print(f"{stamp} {line}", file=out, flush=True)
        except aiomqtt.MqttError as exc:
            attempt += 1  # the next server, if there are several
            delay = backoff.next_delay()
            print(f"broker {format_host_port(host, port)} unavailable ({exc}); "
                  f"retrying in {delay:.1f}s", file=sys.stderr, flush=True)
            await asyncio.sleep(delay)


async def _live(state: MonitorState) -> None:
    from rich.live import Live  # noqa: PLC0415

    with Live(_table(state), auto_refresh=False) as live:
        while True:
            await asyncio.sleep(REFRESH)
            live.update(_table(state), refresh=True)


async def _main(settings: Settings, tty: bool) -> None:
    state = MonitorState(settings.topic_root)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_watch(settings, state, None if tty else sys.stdout), name="monitor.watch")
        if tty:
            tg.create_task(_live(state), name="monitor.live")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    monitor = sub.add_parser("monitor", parents=[common],
                             help="watch the gateway's devices and readings live")
    monitor.add_argument("--plain", action="store_true",
                         help="one line per message even on a terminal")


def run(args: argparse.Namespace, settings: Settings) -> int:
    tty = sys.stdout.isatty() and not args.plain
    run_until_stopped(lambda: _main(settings, tty))
    return 0
