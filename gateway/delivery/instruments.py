"""Publish-side counters that the publisher does not keep: per device, and latency.

:class:`PublishInstruments` wraps the buffer the publisher reads from (same :class:`Buffer`
interface) and observes what passes: when an entry leaves the buffer for the broker (``get``),
when the broker has it (``ack``: published, latency) and when a lost connection sends the
in-flight window back (``requeue_inflight``: failed attempts, to be retried). Only used when the
metrics endpoint is on; otherwise the publisher reads the buffer directly, at no cost.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import MutableMapping

from gateway.delivery.buffer import Buffer, BufferStats, Entry, Flow

__all__ = ["LATENCY_BUCKETS", "LatencyHistogram", "PublishInstruments"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatencyHistogram:
    """A cheap fixed-bucket histogram (one bisect per observation), read at scrape time."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        total = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip((*map(repr, self.buckets), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


class PublishInstruments:
    """A :class:`Buffer` that forwards to ``inner`` and counts per device on the way out."""

    def __init__(self, inner: Buffer) -> None:
        self.inner = inner
        self.published: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self._sent: dict[int, tuple[float, str]] = {}

    @property
    def sequences(self) -> MutableMapping[str, int]:
        return self.inner.sequences

    @property
    def flow(self) -> Flow:
        return self.inner.flow

    def over_share(self, device: str) -> bool:
        return self.inner.over_share(device)

    def put(self, entry: Entry) -> None:
        self.inner.put(entry)

    async def wait_ready(self) -> None:
        await self.inner.wait_ready()

    async def get(self, limit: int) -> list[Entry]:
        batch = await self.inner.get(limit)
        now = time.monotonic()
        for entry in batch:
            self._sent[entry.id] = (now, entry.device)
        return batch

    def ack(self, entry: Entry) -> None:
        self.ack_many([entry])

    def ack_many(self, entries: list[Entry]) -> None:
        self.inner.ack_many(entries)
        now = time.monotonic()
        for entry in entries:
            sent = self._sent.pop(entry.id, None)
            if sent is not None:
                self.latency.observe(now - sent[0])
                self.published[sent[1]] += 1

    def requeue_inflight(self) -> None:
        for _, device in self._sent.values():
            self.failed[device] += 1
        self._sent.clear()
        self.inner.requeue_inflight()

    async def wait_empty(self) -> None:
        await self.inner.wait_empty()

    def stats(self) -> BufferStats:
        return self.inner.stats()
