"""The daemon's health as systemd sees it: ``STATUS=`` lines and the ``WATCHDOG=1`` keep-alive.

Healthy (the watchdog is fed) means all of:

- the event loop runs: the keep-alive is sent from a task on the loop, so a loop blocked for
  longer than ``WatchdogSec`` gets no ping and systemd restarts the daemon;
- the publisher task is alive, and either connected to the broker or still cycling through its
  reconnect loop (an attempt ended within ``reconnect_delay_max`` + the 10 s connect timeout +
  :data:`RECONNECT_SLACK`). A broker outage therefore never gets the daemon killed: readings keep
  waiting in the buffer. Only a publisher that stopped trying (wedged) stops the pings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.ops.systemd import Notifier

if TYPE_CHECKING:
    from gateway.ops.view import DeviceView, GatewayView, PublisherView

__all__ = ["PublisherHealth", "RateMeter", "Summary", "SystemdReporter", "summarize"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # the publisher's MQTT client timeout
RECONNECT_SLACK = 30.0
STATUS_PERIOD = 5.0  # seconds between two STATUS= updates when there is no watchdog


@dataclass(frozen=True)
class Summary:
    devices_online: int
    devices_total: int
    readings_per_min: float
    buffer_depth: int
    connected: bool
    tried: bool = True  # at least one connection attempt failed or ended

    def line(self) -> str:
        broker = "connected" if self.connected else (
            "broker unavailable" if self.tried else "connecting")
        return (f"{self.devices_online}/{self.devices_total} devices online, "
                f"{self.readings_per_min:.0f} readings/min, buffer {self.buffer_depth}, {broker}")


class RateMeter:
    """Readings per minute over a sliding window, from a monotonically growing total."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        first_t, first_total = self._samples[0]
        span = now - first_t
        return 0.0 if span <= 0 else max(0, total - first_total) * 60.0 / span


def total_readings(devices: Iterable[DeviceView]) -> int:
    return sum(device.readings for device in devices)


def summarize(gateway: GatewayView, rate: float) -> Summary:
    devices = list(gateway.devices.values())
    stats = gateway.buffer.stats()
    return Summary(
        devices_online=sum(1 for d in devices if d.online),
        devices_total=len(devices),
        readings_per_min=rate,
        buffer_depth=stats.queued + stats.inflight,
        connected=gateway.publisher.connected.is_set(),
        tried=gateway.publisher.reconnects > 0,
    )


class PublisherHealth:
    """Is the publisher connected, or at least still trying to be?"""

    def __init__(self, publisher: PublisherView, task: asyncio.Task[None]) -> None:
        self.publisher = publisher
        self.task = task
        self.grace = publisher.mqtt.reconnect_delay_max + CONNECT_TIMEOUT + RECONNECT_SLACK
        self._attempts = publisher.reconnects
        self._attempt_at = time.monotonic()

    def problem(self, now: float) -> str | None:
        """None when healthy, else why not."""
        if self.task.done():
            return "publisher task ended"
        if self.publisher.connected.is_set():
            return None
        if self.publisher.reconnects != self._attempts:
            self._attempts = self.publisher.reconnects
            self._attempt_at = now
        idle = now - self._attempt_at
        if idle > self.grace:
            return f"publisher made no connection attempt for {idle:.0f}s"
        return None


class SystemdReporter:
    """One task: ``STATUS=`` on change and ``WATCHDOG=1`` every half ``WATCHDOG_USEC``."""

    def __init__(
        self, notifier: Notifier, gateway: GatewayView, publisher: asyncio.Task[None]
    ) -> None:
        self.notifier = notifier
        self.gateway = gateway
        self.health = PublisherHealth(gateway.publisher, publisher)
        self.rate = RateMeter()
        self._last_status = ""
        self._last_problem: str | None = None

    def status_line(self) -> str:
        now = time.monotonic()
        rate = self.rate.update(now, total_readings(self.gateway.devices.values()))
        return summarize(self.gateway, rate).line()

    async def run(self) -> None:
        interval = self.notifier.watchdog_interval
        tick = STATUS_PERIOD if interval is None else min(interval, STATUS_PERIOD)
        while True:
            self.beat(watchdog=interval is not None)
            await asyncio.sleep(tick)

    def beat(self, *, watchdog: bool) -> None:
        line = self.status_line()
        if line != self._last_status:
            self.notifier.status(line)
            self._last_status = line
        if not watchdog:
            return
        problem = self.health.problem(time.monotonic())
        if problem != self._last_problem:
            if problem:
                log.error("unhealthy, withholding the systemd watchdog ping: %s", problem)
            else:
                log.info("healthy again: systemd watchdog pings resume")
            self._last_problem = problem
        if problem is None:
            self.notifier.watchdog()
