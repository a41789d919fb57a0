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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.ops.systemd import Notifier

if TYPE_CHECKING:
    from gateway.ops.view import DeviceView, GatewayView, PublisherView

__all__ = ["PublisherHealth", "Summary", "SystemdReporter", "summarize", "total_readings"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # the publisher's MQTT client timeout
RECONNECT_SLACK = 30.0
STATUS_PERIOD = 5.0  # seconds between two checks of the STATUS= line (and watchdog pings)
STATUS_GAP = 0.2  # at most one STATUS= per this many seconds when changes come in a burst


@dataclass(frozen=True)
class Summary:
    devices_online: int
    devices_total: int
    readings: int  # in the last minute, or so far (``full_minute`` False: the first minute)
    buffer_depth: int
    connected: bool
    tried: bool = True  # at least one connection attempt failed or ended
    full_minute: bool = True

    def line(self) -> str:
        broker = "connected" if self.connected else (
            "broker unavailable" if self.tried else "connecting")
        rate = (f"{self.readings} readings/min" if self.full_minute
                else f"{self.readings} readings so far")
        return (f"{self.devices_online}/{self.devices_total} devices online, {rate}, "
                f"buffer {self.buffer_depth}, {broker}")


def total_readings(devices: Iterable[DeviceView]) -> int:
    return sum(device.readings for device in devices)


def summarize(gateway: GatewayView) -> Summary:
    devices = list(gateway.devices.values())
    stats = gateway.buffer.stats()
    readings, full_minute = gateway.reading_rate.last_minute()
    return Summary(
        devices_online=sum(1 for d in devices if d.online),
        devices_total=len(devices),
        readings=readings,
        buffer_depth=stats.queued + stats.inflight,
        connected=gateway.publisher.connected.is_set(),
        tried=gateway.publisher.reconnects > 0,
        full_minute=full_minute,
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
    """One task: ``STATUS=`` on every change and ``WATCHDOG=1`` every half ``WATCHDOG_USEC``.

    A change of state (a device online or offline, the broker connected or lost) is announced
    at once (:meth:`poke`); readings and buffer depth, which change all the time, with the
    periodic check. A burst of changes (a hundred devices coming online) is sent as at most one
    line per :data:`STATUS_GAP`.
    """

    def __init__(
        self, notifier: Notifier, gateway: GatewayView, publisher: asyncio.Task[None]
    ) -> None:
        self.notifier = notifier
        self.gateway = gateway
        self.health = PublisherHealth(gateway.publisher, publisher)
        self._changed = asyncio.Event()
        self._last_status = ""
        self._last_problem: str | None = None

    def status_line(self) -> str:
        return summarize(self.gateway).line()

    def ready(self) -> None:
        """``READY=1`` with the STATUS= line (start-up done, or a reload applied)."""
        line = self.status_line()
        self.notifier.ready(line)
        self._last_status = line

    def poke(self) -> None:
        """Something the STATUS= line shows changed: send it now, not at the next check."""
        self._changed.set()

    async def run(self) -> None:
        interval = self.notifier.watchdog_interval
        tick = STATUS_PERIOD if interval is None else min(interval, STATUS_PERIOD)
        while True:
            self.beat(watchdog=interval is not None)
            deadline = time.monotonic() + tick
            while await self._changed_before(deadline):
                self.update_status()
                await asyncio.sleep(STATUS_GAP)

    async def _changed_before(self, deadline: float) -> bool:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def update_status(self) -> None:
        line = self.status_line()
        if line != self._last_status:
            self.notifier.status(line)
            self._last_status = line

    def beat(self, *, watchdog: bool) -> None:
        self.update_status()
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
