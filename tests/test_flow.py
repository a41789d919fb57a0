"""Backpressure (gateway/delivery/flow.py) in-process: the watermarks, who sheds, that a shed
reading gets no seq, and that polled drivers skip ticks. The real Device and buffer; the test is
the driver. End to end against a real broker: tests/test_overload.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from drivers.simulated.config import SimulatedConfig
from gateway.core.device import Device
from gateway.core.readings import Measurement
from gateway.core.resources import SharedResources
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Entry, MemoryBuffer
from gateway.sdk import PolledDriver, ticks


def entry(device: str, n: int) -> Entry:
    return Entry(f"t/{device}/s", b"{}", device)


async def test_the_flow_closes_above_high_water_only_while_delivering() -> None:
    buffer = MemoryBuffer(max_readings=100)
    for n in range(95):
        buffer.put(entry("a", n))
    assert not buffer.flow.shedding  # not delivering (the broker is away): nothing is shed
    buffer.flow.set_delivering(True)
    buffer.put(entry("a", 95))
    assert buffer.flow.shedding  # above 90 of 100 while delivering
    batch = await buffer.get(100)
    for one in batch[:25]:
        buffer.ack(one)
    assert buffer.flow.shedding  # 71 left: above the low-water mark (70)
    buffer.ack(batch[25])
    assert not buffer.flow.shedding
    buffer.put(entry("a", 96))
    buffer.flow.set_delivering(True)
    for n in range(30):
        buffer.put(entry("a", 100 + n))
    assert buffer.flow.shedding
    buffer.flow.set_delivering(False)  # the connection is gone: the overflow policy rules
    assert not buffer.flow.shedding


def device_config(device_id: str, interval: float = 1.0) -> SimulatedConfig:
    return SimulatedConfig.model_validate(
        {"id": device_id, "sensors": ["temperature", "humidity"], "interval": interval})


async def test_a_shed_reading_gets_no_seq_and_only_the_flood_sheds() -> None:
    buffer = MemoryBuffer(max_readings=100)
    buffer.flow.set_delivering(True)
    async with asyncio.TaskGroup() as tg:
        shared = SharedResources(tg)
        flood = Device(device_config("flood"), buffer, topics=TopicLayout("r"), shared=shared,
                       on_status=lambda *_: None)
        slow = Device(device_config("slow"), buffer, topics=TopicLayout("r"), shared=shared,
                      on_status=lambda *_: None)
        two = [Measurement("temperature", 20.0, "°C"), Measurement("humidity", 50.0, "%")]
        slow.emit(two)
        for _ in range(44):  # 88 readings + the slow device's 2: at the high-water mark (90)
            flood.emit(two)
        assert buffer.flow.shedding and flood.shedding and not slow.shedding
        flood.emit(two)
        slow.emit(two)  # a slow sensor beside the flood keeps publishing
        assert flood.shed == 2 and slow.shed == 0
        assert flood.readings == 88 and slow.readings == 4
        batch = await buffer.get(100)
        for one in batch:
            buffer.ack(one)
        assert not buffer.flow.shedding
        flood.emit(two)
    seqs = [json.loads(e.payload)["seq"] for e in await buffer.get(100)
            if e.topic == "r/flood/temperature"]
    assert seqs == [45]  # the shed cycle took no seq: the published seq stays gap-free
    assert buffer.flow.shed == {"flood": 2}


class Counting(PolledDriver[SimulatedConfig]):
    """A polled driver that counts its reads (PolledDriver.run has its own tick loop)."""

    reads = 0

    async def read(self) -> list[Measurement]:
        self.reads += 1
        return []


@pytest.mark.parametrize("loop", ["ticks", "PolledDriver.run"])
async def test_polled_ticks_pause_while_shedding_and_count_what_they_skip(loop: str) -> None:
    buffer = MemoryBuffer(max_readings=10)
    buffer.flow.set_delivering(True)
    async with asyncio.TaskGroup() as tg:
        device = Device(device_config("d", 0.01), buffer, topics=TopicLayout("r"),
                        shared=SharedResources(tg), on_status=lambda *_: None)
        for _ in range(5):  # 10 readings: above the high-water mark (9)
            device.emit([Measurement("temperature", 20.0, "°C"),
                         Measurement("humidity", 50.0, "%")])
        assert device.shedding
        ticked = 0
        driver = Counting(device_config("d", 0.01), device)

        async def drive() -> None:
            nonlocal ticked
            async for _ in ticks(0.01, device):
                ticked += 1

        task = tg.create_task(drive() if loop == "ticks" else driver.run(), name="test-ticks")
        await asyncio.sleep(0.2)  # the shedding lasts a fixed time: that is what is tested
        assert ticked + driver.reads == 0  # no tick while shedding
        for one in await buffer.get(100):
            buffer.ack(one)  # drained: the flow opens
        await asyncio.sleep(0.05)
        task.cancel()
    assert ticked + driver.reads >= 1
    assert device.shed >= 2 * 15  # ~20 ticks skipped, 2 sensors each
