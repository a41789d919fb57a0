"""The buffer between drivers and the publisher.

Readings wait here while the broker is away and leave in order. :class:`MemoryBuffer` is the
default (lost on restart, bounded, drop-oldest by default); the reliability work adds a disk
outbox behind the same :class:`Buffer` interface.

Life of an entry: ``put`` -> ``get`` (now *in flight*) -> ``ack`` once the broker has it, or
``requeue_inflight`` after a lost connection, which puts every unacknowledged entry back at the
front in its original order (so a reconnect can duplicate at most the in-flight window).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter, deque
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["Buffer", "BufferStats", "Entry", "MemoryBuffer"]

log = logging.getLogger(__name__)

Overflow = Literal["drop_oldest", "drop_newest"]


class Entry:
    """One message waiting to be published: topic, encoded payload, the device it came from."""

    __slots__ = ("device", "id", "payload", "topic")

    def __init__(self, topic: str, payload: bytes, device: str) -> None:
        self.topic = topic
        self.payload = payload
        self.device = device
        self.id = 0

    def __repr__(self) -> str:
        return f"Entry({self.topic!r}, {self.payload!r})"


@dataclass
class BufferStats:
    queued: int = 0
    inflight: int = 0
    bytes: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # per device


class Buffer(Protocol):
    """What the publisher and the device contexts need from a buffer."""

    @property
    def sequences(self) -> MutableMapping[str, int]:
        """Last ``seq`` per topic (a disk outbox persists it, so seq survives restarts)."""

    def put(self, entry: Entry) -> None:
        """Add a reading; never blocks; applies the overflow policy when full."""

    async def get(self, limit: int) -> list[Entry]:
        """Wait for at least one entry; return up to ``limit``, oldest first, now in flight."""

    def ack(self, entry: Entry) -> None:
        """The broker has it: forget it."""

    def requeue_inflight(self) -> None:
        """The connection is gone: everything in flight goes back to the front, in order."""

    async def wait_empty(self) -> None:
        """Return once nothing is queued or in flight."""

    def stats(self) -> BufferStats: ...


class MemoryBuffer:
    """A bounded in-memory FIFO. ``max_readings`` counts queued plus in-flight entries."""

    def __init__(self, max_readings: int = 100_000, overflow: Overflow = "drop_oldest") -> None:
        self.max_readings = max_readings
        self.overflow = overflow
        self.sequences: dict[str, int] = {}
        self._queue: deque[Entry] = deque()
        self._inflight: dict[int, Entry] = {}
        self._ids = itertools.count(1)
        self._dropped: Counter[str] = Counter()
        self._bytes = 0
        self._nonempty = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def put(self, entry: Entry) -> None:
        if len(self._queue) + len(self._inflight) >= self.max_readings:
            if self.overflow == "drop_newest" or not self._queue:
                self._drop(entry)
                return
            self._drop(self._remove_oldest())
        entry.id = next(self._ids)
        self._queue.append(entry)
        self._bytes += len(entry.payload)
        self._nonempty.set()
        self._empty.clear()

    def _remove_oldest(self) -> Entry:
        oldest = self._queue.popleft()
        self._bytes -= len(oldest.payload)
        return oldest

    def _drop(self, entry: Entry) -> None:
        self._dropped[entry.device] += 1
        total = sum(self._dropped.values())
        if total == 1 or total % 10_000 == 0:
            log.warning("buffer full (%d readings): dropped %d readings so far (%s policy)",
                        self.max_readings, total, self.overflow)

    async def get(self, limit: int) -> list[Entry]:
        while not self._queue:
            self._nonempty.clear()
            await self._nonempty.wait()
        batch = [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]
        for entry in batch:
            self._inflight[entry.id] = entry
        return batch

    def ack(self, entry: Entry) -> None:
        if self._inflight.pop(entry.id, None) is not None:
            self._bytes -= len(entry.payload)
        if not self._queue and not self._inflight:
            self._empty.set()

    def requeue_inflight(self) -> None:
        if self._inflight:
            self._queue.extendleft(reversed(sorted(self._inflight.values(), key=_entry_id)))
            self._inflight.clear()
            self._nonempty.set()

    async def wait_empty(self) -> None:
        await self._empty.wait()

    def stats(self) -> BufferStats:
        return BufferStats(len(self._queue), len(self._inflight), self._bytes,
                           Counter(self._dropped))


def _entry_id(entry: Entry) -> int:
    return entry.id
