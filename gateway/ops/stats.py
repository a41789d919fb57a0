"""``<root>/stats``: a JSON health summary every ``[gateway] stats_interval`` seconds.

The message goes through the buffer like a reading (so it keeps the configured QoS and waits
out a broker outage in order); it is not retained. The payload is documented in the README.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.core.readings import json_bytes
from gateway.core.timefmt import iso_ms
from gateway.delivery.buffer import Entry
from gateway.ops.health import total_readings

if TYPE_CHECKING:
    from gateway.ops.looplag import LoopMonitor
    from gateway.ops.view import DeviceView, GatewayView

__all__ = ["StatsReporter"]

STATS_DEVICE = ""  # the buffer entry's device: none (not counted against any device)


class StatsReporter:
    """``send`` hands the message to the buffer (it leaves like a reading)."""

    def __init__(
        self, gateway: GatewayView, loop_monitor: LoopMonitor, send: Callable[[Entry], None]
    ) -> None:
        self.gateway = gateway
        self.loop_monitor = loop_monitor
        self.send = send
        self.started = time.monotonic()
        self.sent = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.gateway.settings.gateway.stats_interval)
            self.publish()

    def publish(self) -> None:
        payload = json_bytes(self.snapshot())
        self.send(Entry(self.gateway.topics.stats, payload, STATS_DEVICE))
        self.sent += 1

    def snapshot(self) -> dict[str, Any]:
        gateway = self.gateway
        now = time.monotonic()
        devices = gateway.devices
        total = total_readings(devices.values())
        stats = gateway.buffer.stats()
        monitor = self.loop_monitor
        return {
            "ts": iso_ms(time.time()),
            "version": __version__,
            "uptime": round(now - self.started, 1),
            "devices": {"total": len(devices), "online": sum(1 for d in devices.values()
                                                             if d.online)},
            "readings": {"total": total, "per_min": float(gateway.reading_rate.last_minute()[0])},
            "mqtt": {"connected": gateway.publisher.connected.is_set(),
                     "published": gateway.publisher.published,
                     "reconnects": gateway.publisher.reconnects,
                     "rejected": gateway.publisher.rejected},
            "buffer": {"queued": stats.queued, "inflight": stats.inflight, "bytes": stats.bytes,
                       "dropped": sum(stats.dropped.values()),
                       "shed": sum(d.shed for d in devices.values()),
                       "shedding": gateway.buffer.flow.shedding},
            "loop": {"lag": round(monitor.lag, 4), "max_lag": round(monitor.take_max(), 4),
                     "blocks": monitor.blocks},
            "per_device": {key: _device(device, now) for key, device in devices.items()},
        }


def _device(device: DeviceView, now: float) -> dict[str, Any]:
    return {
        "online": bool(device.online),
        "readings": device.readings,
        "age": round(max(0.0, now - device.last_reading), 1),
        "restarts": device.restarts,
        "shed": device.shed,
        "errors": dict(device.errors),
    }
