"""The buffer between drivers and the publisher.

Readings wait here while the broker is away and leave in order. :class:`MemoryBuffer` is the
default (lost on restart, bounded, drop-oldest by default);
:class:`gateway.delivery.outbox.DiskOutbox` is the SQLite outbox behind the same
:class:`Buffer` interface. Both share :class:`FairQueue`.

Life of an entry: ``put`` -> ``get`` (now *in flight*) -> ``ack`` once the broker has it, or
``requeue_inflight`` after a lost connection, which puts every unacknowledged entry back at the
front in its original order (so a reconnect can duplicate at most the in-flight window).

Fairness: every device has its own FIFO. ``get`` takes round-robin across devices, so a device
with a large backlog drains at full speed while the live readings of the others keep flowing;
when a bound is reached the victim is always the device holding the most readings, so a
flooding device evicts its own readings, not those of the others (beyond its share).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self

from gateway.delivery.flow import HIGH_WATER, LOW_WATER, SURGE, Flow

__all__ = [
    "Buffer", "BufferStats", "Entry", "FairQueue", "Flow", "MemoryBuffer", "Overflow",
    "OwnedBuffer",
]

log = logging.getLogger(__name__)

Overflow = Literal["drop_oldest", "drop_newest"]
DROP_LOG_PERIOD = 10.0  # seconds between two log lines about dropped readings
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Entry:
    """One message waiting to be published: topic, encoded payload, the device it came from.

    ``ts`` is the wall-clock time it was buffered (for ``max_age``); ``ready`` says it may be
    handed to the publisher (the disk outbox hands out only committed entries); ``persisted``
    says it is in the disk outbox.
    """

    __slots__ = ("device", "id", "payload", "persisted", "ready", "size", "topic", "ts")

    def __init__(self, topic: str, payload: bytes, device: str, ts: float = 0.0) -> None:
        self.topic = topic
        self.payload = payload
        self.device = device
        self.id = 0
        self.ts = ts
        self.ready = False
        self.persisted = False
        self.size = len(payload) + len(topic)  # what it counts against ``max_bytes``

    def __repr__(self) -> str:
        return f"Entry({self.topic!r}, {self.payload!r})"


@dataclass
class BufferStats:
    queued: int = 0
    inflight: int = 0
    bytes: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # per device
    unpersisted: int = 0  # disk outbox: readings that could not be written (disk full/broken)
    persistent: bool = False  # True while the disk outbox is writable


class Buffer(Protocol):
    """What the publisher and the device contexts need from a buffer."""

    @property
    def flow(self) -> Flow:
        """Backpressure to the drivers (:mod:`gateway.delivery.flow`)."""

    def over_share(self, device: str) -> bool:
        """``device`` holds at least a quarter of its fair share of the queued readings."""

    @property
    def sequences(self) -> MutableMapping[str, int]:
        """Last ``seq`` per topic (a disk outbox persists it, so seq survives restarts)."""

    def put(self, entry: Entry) -> None:
        """Add a reading; never blocks; applies the overflow policy when full."""

    async def get(self, limit: int) -> list[Entry]:
        """Wait for at least one entry; return up to ``limit``, oldest first, now in flight."""

    async def wait_ready(self) -> None:
        """Return once :meth:`get` would not wait (the publisher then asks for as many as its
        window takes *now*, not as it was before the wait)."""

    def ack(self, entry: Entry) -> None:
        """The broker has it: forget it."""

    def ack_many(self, entries: list[Entry]) -> None:
        """The broker has all of these (one PUBACK read): :meth:`ack` each, cheaper."""

    def requeue_inflight(self) -> None:
        """The connection is gone: everything in flight goes back to the front, in order."""

    async def wait_empty(self) -> None:
        """Return once nothing is queued or in flight."""

    def stats(self) -> BufferStats: ...


class OwnedBuffer(Buffer, Protocol):
    """What the daemon that owns the buffer needs on top: a resource with background upkeep."""

    async def run(self) -> None:
        """Background upkeep (``max_age``, disk commits) until cancelled."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _DropLog:
    """Counts drops per device and logs them at most once per ``DROP_LOG_PERIOD``."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.total: Counter[str] = Counter()
        self._since: Counter[str] = Counter()
        self._last = float("-inf")

    def count(self, device: str, reason: str) -> None:
        self.total[device] += 1
        self._since[device] += 1
        now = time.monotonic()
        if now - self._last >= DROP_LOG_PERIOD:
            self._last = now
            per_device = ", ".join(f"{d}: {n}" for d, n in self._since.most_common(5))
            more = " ..." if len(self._since) > 5 else ""
            log.warning("%s %s: dropped %d readings since the last report (%s%s); %d in total",
                        self.what, reason, sum(self._since.values()), per_device, more,
                        sum(self.total.values()))
            self._since.clear()


class FairQueue:
    """Bounded per-device FIFOs with round-robin ``get`` and fair eviction.

    Bounds count queued plus in-flight entries: ``max_readings`` readings, ``max_bytes`` bytes
    of topic plus payload, ``max_age`` seconds (older queued readings are dropped by ``expire``).
    """

    what = "buffer"

    def __init__(
        self,
        max_readings: int = 100_000,
        overflow: Overflow = "drop_oldest",
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float | None = None,
    ) -> None:
        self.max_readings = max_readings
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.overflow = overflow
        self._queues: dict[str, deque[Entry]] = {}
        self._ring: deque[str] = deque()  # devices with a non-empty queue, round-robin order
        self._inflight: dict[int, Entry] = {}
        self._ids = itertools.count(1)
        self._drops = _DropLog(self.what)
        self._count = 0
        self._bytes = 0
        self._nonempty = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self.flow = Flow(on_delivering=self._delivering)
        self._high = max(1, int(max_readings * HIGH_WATER))
        self._high_bytes = max(1, int(max_bytes * HIGH_WATER))
        self._low = int(max_readings * LOW_WATER)
        self._low_bytes = int(max_bytes * LOW_WATER)
        self._floor = 0  # the fewest readings held since the publisher began delivering
        self._shed_at = self._high  # close the flow at this many readings

    def _delivering(self) -> None:
        """A session began: a backlog it drains is no overload; growth from here is."""
        self._set_floor(self._count)

    def _set_floor(self, floor: int) -> None:
        self._floor = floor
        self._shed_at = min(self._high, floor + SURGE)

    # --- putting ---------------------------------------------------------------------------

    def put(self, entry: Entry) -> None:
        self._put(entry)

    def _put(self, entry: Entry) -> bool:
        entry.id = next(self._ids)
        if not entry.ts:
            entry.ts = time.time()
        if self._count < self.max_readings and self._bytes + entry.size <= self.max_bytes:
            self._enqueue(entry)  # room: the usual case, without a call to spare
            return True
        return self._admit(entry)

    def _admit(self, entry: Entry) -> bool:
        """Make room under the bounds (fairly), then enqueue; False if ``entry`` was dropped."""
        size = entry.size
        while self._count + 1 > self.max_readings or self._bytes + size > self.max_bytes:
            victim = self._victim(entry.device)
            if victim is None or (self.overflow == "drop_newest" and victim == entry.device):
                self._drops.count(entry.device, "full")
                self._dropped(entry)
                return False
            queue = self._queues[victim]
            old = queue.popleft() if self.overflow == "drop_oldest" else queue.pop()
            self._unlink(old, queue)
            self._drops.count(old.device, "full")
            self._dropped(old)
        self._enqueue(entry)
        return True

    def _enqueue(self, entry: Entry) -> None:
        queue = self._queues.get(entry.device)
        if queue is None:
            queue = self._queues[entry.device] = deque()
        if not queue:
            self._ring.append(entry.device)
        queue.append(entry)
        self._count += 1
        self._bytes += entry.size
        if self._count == 1:  # it was empty (set again only when the count drops to 0)
            self._empty.clear()
        if entry.ready:
            self._nonempty.set()
        if self._count >= self._shed_at or self._bytes >= self._high_bytes:
            self.flow.close()  # while delivering: the broker cannot keep up

    def over_share(self, device: str) -> bool:
        """``device`` holds at least a quarter of its fair share of what is queued: under
        overload it sheds. A device far below its share (a slow sensor beside a flood) keeps
        publishing; devices alike (a flood of them) all shed."""
        held = self._held(device)
        return held > 0 and held * len(self._ring) * 4 >= self._count - len(self._inflight)

    def _held(self, device: str) -> int:
        queue = self._queues.get(device)
        return len(queue) if queue else 0

    def _victim(self, device: str) -> str | None:
        """Who loses a reading: ``device`` itself while it holds at least its fair share (an
        O(1) answer for a flood), else the device holding the most queued readings."""
        held = self._held(device)
        if held and held * len(self._ring) >= self._count - len(self._inflight):
            return device
        largest = self._largest_device()
        if largest is not None and self._held(largest) <= held:
            return device
        return largest

    def _largest_device(self) -> str | None:
        best, most = None, 0
        for device, queue in self._queues.items():
            if len(queue) > most:
                best, most = device, len(queue)
        return best

    def _unlink(self, entry: Entry, queue: deque[Entry]) -> None:
        """``entry`` has just been removed from ``queue``: fix the counters and the ring."""
        self._count -= 1
        self._bytes -= entry.size
        if not queue:
            self._ring.remove(entry.device)
        self._shrank()

    def _shrank(self) -> None:
        """Fewer readings are held now: the empty event, the low point, maybe the flow."""
        if self._count == 0:
            self._empty.set()
        if self._count < self._floor:
            self._set_floor(self._count)
        if self.flow.shedding and self._count <= min(self._low, self._floor + SURGE // 2) \
                and self._bytes <= self._low_bytes:
            self.flow.open()

    def _dropped(self, entry: Entry) -> None:
        """Hook: ``entry`` was dropped by a bound (the outbox deletes it from disk)."""

    def _released(self, entry: Entry) -> None:
        """Hook: ``entry`` was acknowledged by the broker."""

    # --- getting ---------------------------------------------------------------------------

    async def get(self, limit: int) -> list[Entry]:
        while True:
            batch = self._take(limit)
            if batch:
                return batch
            self._nonempty.clear()
            await self._nonempty.wait()

    async def wait_ready(self) -> None:
        queues = self._queues
        while not any(queues[device][0].ready for device in self._ring):
            self._nonempty.clear()
            await self._nonempty.wait()

    def _take(self, limit: int) -> list[Entry]:
        batch: list[Entry] = []
        ring = self._ring
        misses = 0
        while len(batch) < limit and misses < len(ring):
            device = ring[0]
            queue = self._queues[device]
            if not queue[0].ready:  # the outbox: not committed yet; later ones neither
                ring.rotate(-1)
                misses += 1
                continue
            misses = 0
            entry = queue.popleft()
            self._inflight[entry.id] = entry
            batch.append(entry)
            ring.rotate(-1)
            if not queue:
                ring.pop()
        return batch

    # --- acknowledging ---------------------------------------------------------------------

    def ack(self, entry: Entry) -> None:
        self.ack_many([entry])

    def ack_many(self, entries: list[Entry]) -> None:
        inflight, released = self._inflight, self._released
        for entry in entries:
            if inflight.pop(entry.id, None) is not None:
                self._count -= 1
                self._bytes -= entry.size
                released(entry)
        self._shrank()

    def requeue_inflight(self) -> None:
        if not self._inflight:
            return
        per_device: dict[str, list[Entry]] = {}
        for entry in sorted(self._inflight.values(), key=_entry_id):
            per_device.setdefault(entry.device, []).append(entry)
        self._inflight.clear()
        for device, entries in per_device.items():
            queue = self._queues[device]
            if not queue:
                self._ring.appendleft(device)
            queue.extendleft(reversed(entries))
        self._nonempty.set()

    async def wait_empty(self) -> None:
        await self._empty.wait()

    # --- age -------------------------------------------------------------------------------

    def expire(self, now: float | None = None) -> int:
        """Drop queued readings older than ``max_age``; return how many."""
        if self.max_age is None:
            return 0
        limit = (time.time() if now is None else now) - self.max_age
        dropped = 0
        for queue in list(self._queues.values()):
            while queue and queue[0].ts < limit:
                old = queue.popleft()
                self._unlink(old, queue)
                self._drops.count(old.device, "max_age")
                self._dropped(old)
                dropped += 1
        return dropped

    def log_totals(self) -> None:
        """At close: every reading dropped this run, per device (never silent)."""
        total = self._drops.total
        if total:
            per_device = ", ".join(f"{d}: {n}" for d, n in sorted(total.items()))
            log.warning("%s: %d readings dropped this run (%s)", self.what,
                        sum(total.values()), per_device)

    def _age_tick(self) -> float:
        return 1.0 if self.max_age is None else min(1.0, max(0.05, self.max_age / 10))

    def stats(self) -> BufferStats:
        return BufferStats(self._count - len(self._inflight), len(self._inflight), self._bytes,
                           Counter(self._drops.total))


class MemoryBuffer(FairQueue):
    """The default buffer, in memory: **lost when the process stops**."""

    def __init__(
        self,
        max_readings: int = 100_000,
        overflow: Overflow = "drop_oldest",
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float | None = None,
    ) -> None:
        super().__init__(max_readings, overflow, max_bytes=max_bytes, max_age=max_age)
        self.sequences: dict[str, int] = {}

    def put(self, entry: Entry) -> None:
        entry.ready = True
        self._put(entry)

    async def run(self) -> None:
        if self.max_age is None:  # nothing to expire: no periodic wake-up
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(self._age_tick())
            self.expire()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.log_totals()


def _entry_id(entry: Entry) -> int:
    return entry.id
