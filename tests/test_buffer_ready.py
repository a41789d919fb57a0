"""``Buffer.wait_ready``: the publisher waits for readings first and sizes its batch after, so
one wake-up sends everything the window takes now (not what it took before the wait)."""

from __future__ import annotations

import asyncio

from gateway.delivery.buffer import Entry, FairQueue, MemoryBuffer


async def test_wait_ready_returns_once_a_reading_can_be_taken() -> None:
    buffer = MemoryBuffer()
    waiter = asyncio.create_task(buffer.wait_ready())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    for n in range(60):
        buffer.put(Entry(f"t/{n % 20}", b"{}", f"d{n % 20}"))
    await asyncio.wait_for(waiter, 1)
    assert len(await buffer.get(100)) == 60  # all of them in one batch


async def test_wait_ready_ignores_readings_not_ready_yet() -> None:
    """The disk outbox hands out only committed readings: an uncommitted one is no reason to
    wake the publisher."""
    queue = FairQueue()
    queue.put(Entry("t/a", b"{}", "a"))  # FairQueue.put leaves ``ready`` False (uncommitted)
    waiter = asyncio.create_task(queue.wait_ready())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    ready = Entry("t/b", b"{}", "b")
    ready.ready = True
    queue.put(ready)
    await asyncio.wait_for(waiter, 1)
    assert [entry.topic for entry in await queue.get(10)] == ["t/b"]
