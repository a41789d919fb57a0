"""Pure pieces: topic sanitising, timestamps, backoff, the memory buffer."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.backoff import Backoff
from gateway.core.timefmt import iso_ms
from gateway.core.topics import TopicLayout, sanitize
from gateway.delivery.buffer import Entry, MemoryBuffer, Overflow


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("kitchen", "kitchen"),
        ("living room", "living_room"),
        ("a/b", "a_b"),
        ("a+b#c", "a_b_c"),
        ("$SYS", "SYS"),
        ("$$x", "x"),
        ("nul\x00byte", "nul_byte"),
        ("///", "unnamed"),
        ("", "unnamed"),
        ("température", "température"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_topic_layout() -> None:
    layout = TopicLayout("sensor-gateway/pi/")
    assert layout.gateway_status == "sensor-gateway/pi/status"
    assert layout.device_status("a/b") == "sensor-gateway/pi/a_b/status"
    assert layout.sensor("dev", "pm#2.5") == "sensor-gateway/pi/dev/pm_2.5"


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1795600800.123, "2026-11-25T10:00:00.123Z"),
        (1795600800.9996, "2026-11-25T10:00:01.000Z"),
        (1795600801.5, "2026-11-25T10:00:01.500Z"),
        (1795600801.0004, "2026-11-25T10:00:01.000Z"),
    ],
)
def test_iso_ms(ts: float, text: str) -> None:
    assert iso_ms(ts) == text


def test_backoff_is_capped_jittered_and_resets() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert 0.5 <= delays[0] <= 1.0
    assert all(4.0 <= d <= 8.0 for d in delays[4:])
    assert len(set(delays)) > 1
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def entry(device: str, n: int) -> Entry:
    return Entry(f"t/{device}", str(n).encode(), device)


async def test_buffer_fifo_ack_and_requeue_keep_order() -> None:
    buf = MemoryBuffer(100)
    for n in range(5):
        buf.put(entry("a", n))
    first = await buf.get(3)
    assert [e.payload for e in first] == [b"0", b"1", b"2"]
    buf.ack(first[1])
    buf.requeue_inflight()  # connection lost: 0 and 2 go back to the front, in order
    again = await buf.get(10)
    assert [e.payload for e in again] == [b"0", b"2", b"3", b"4"]
    for e in again:
        buf.ack(e)
    async with asyncio.timeout(1):
        await buf.wait_empty()
    assert buf.stats().bytes == 0


@pytest.mark.parametrize(
    ("policy", "kept"), [("drop_oldest", [b"2", b"3", b"4"]), ("drop_newest", [b"0", b"1", b"2"])]
)
async def test_buffer_overflow_policy_counts_drops(policy: Overflow, kept: list[bytes]) -> None:
    buf = MemoryBuffer(3, policy)
    for n in range(5):
        buf.put(entry("dev", n))
    assert buf.stats().dropped == {"dev": 2}
    assert [e.payload for e in await buf.get(10)] == kept


async def test_buffer_get_waits_for_data() -> None:
    buf = MemoryBuffer(10)
    waiter = asyncio.create_task(buf.get(5))
    await asyncio.sleep(0)
    assert not waiter.done()
    buf.put(entry("a", 1))
    async with asyncio.timeout(1):
        assert [e.payload for e in await waiter] == [b"1"]
