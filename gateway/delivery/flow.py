"""Backpressure from the buffer to every driver: under overload, readings are shed at the source.

While the publisher is delivering (connected) and the buffer has grown by :data:`SURGE` readings
above the fewest it held since delivering began (a backlog left by an outage drains without
tripping this), or holds more than :data:`HIGH_WATER` of its bounds (``max_readings`` or
``max_bytes``), the broker is not keeping up: the flow *closes*. The devices holding at least
a quarter of their fair share of the buffer (the ones flooding it; a slow sensor beside them
keeps publishing) then stop producing, and no CPU goes into readings that could only be
dropped:

- polled drivers skip their ticks (:func:`gateway.sdk.ticks` waits for the flow to open again
  and counts the ticks it skipped);
- streaming drivers drop what they receive before decoding it (serial lines, BLE adverts);
- whatever still reaches :meth:`gateway.core.device.Device.emit` is shed there.

A shed reading gets no ``seq`` (the published ``seq`` stays gap-free) and is counted per device
(``sensor_gateway_readings_shed_total``, ``shed`` in ``<root>/stats``, a log line at most every
10 s naming the devices). Once it is back to half the surge (and below :data:`LOW_WATER` of its
bounds) the flow opens and everything resumes.

While the broker is away nothing is shed: the readings wait in the buffer, and when it is full
its ``overflow`` policy decides, as before (``drop_oldest`` keeps the newest). Shedding is for a
broker that is there and cannot take what is offered; the buffer's eviction is for one that is
not there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

__all__ = ["HIGH_WATER", "LOW_WATER", "Flow"]

log = logging.getLogger("gateway.buffer")

HIGH_WATER = 0.9  # share of the buffer's bounds: above it, while delivering, the flow closes
LOW_WATER = 0.7  # ...and below it, it opens again
# Readings the buffer may grow by while delivering before the flow closes (it opens again at
# half of it): what the publisher cannot take within a fraction of a second is overload. Small,
# so that an overloaded gateway holds little (memory, garbage collection) and latency stays
# short; large enough for the bursts of hundreds of devices waking together.
SURGE = 5_000
LOG_PERIOD = 10.0  # seconds between two log lines about shed readings


class Flow:
    """Open (drivers produce) or closed (drivers shed); see the module doc."""

    def __init__(self, on_delivering: Callable[[], None] | None = None) -> None:
        self._on_delivering = on_delivering  # the buffer: a session begins
        self.shedding = False
        self.delivering = False  # the publisher has a session: shedding is allowed
        self.shed: Counter[str] = Counter()  # per device, since start
        self.episodes = 0  # times the flow closed
        self._open = asyncio.Event()
        self._open.set()
        self._since: Counter[str] = Counter()
        self._logged = float("-inf")

    def close(self) -> None:
        """The buffer is above its high-water mark (only while delivering)."""
        if self.delivering and not self.shedding:
            self.shedding = True
            self.episodes += 1
            self._open.clear()

    def open(self) -> None:
        """Below the low-water mark, or the broker is gone: produce again."""
        if self.shedding:
            self.shedding = False
            self._open.set()

    def set_delivering(self, delivering: bool) -> None:
        if delivering and not self.delivering and self._on_delivering is not None:
            self._on_delivering()
        self.delivering = delivering
        if not delivering:
            self.open()

    async def wait_open(self) -> None:
        await self._open.wait()

    def count(self, device: str, readings: int) -> None:
        """``readings`` of ``device`` were shed; logged at most every :data:`LOG_PERIOD`."""
        if readings <= 0:
            return
        self.shed[device] += readings
        self._since[device] += readings
        now = time.monotonic()
        if now - self._logged >= LOG_PERIOD:
            self._logged = now
            per_device = ", ".join(f"{d}: {n}" for d, n in self._since.most_common(5))
            more = " ..." if len(self._since) > 5 else ""
            log.warning("overload: the broker takes less than the drivers offer; shed %d "
                        "readings at the source since the last report (%s%s); %d in total",
                        sum(self._since.values()), per_device, more, sum(self.shed.values()))
            self._since.clear()
