"""What a held reading costs: its own size, not a serializer's spare buffer."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import orjson
import pytest
from support.broker import free_port
from support.daemon import base_config, simulated
from support.inproc import running, settings_from
from support.wait import until

from gateway.core.readings import json_bytes

BODY = {"value": 21.53, "unit": "°C", "ts": "2026-11-30T00:00:00.000Z", "seq": 1234}


def allocated_per_object(make: object) -> float:
    assert callable(make)
    tracemalloc.start()
    try:
        kept = [make() for _ in range(1000)]
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    return size / 1000


def test_json_bytes_is_right_sized() -> None:
    assert json_bytes(BODY) == orjson.dumps(BODY)
    assert allocated_per_object(lambda: json_bytes(BODY)) < 2 * len(orjson.dumps(BODY)) + 100


@pytest.mark.parametrize("outbox", [False, True], ids=["memory buffer", "disk outbox"])
async def test_a_held_reading_costs_about_its_size(tmp_path: Path, outbox: bool) -> None:
    """With the broker unreachable every reading is held in the (memory) buffer. orjson 3.12+
    returns each small payload in a 4 KiB allocation: held as it is, 100 000 readings (the
    default bound) would take 400 MB. The whole cost per held reading (entry, topic share,
    payload, queue slot) must stay well under that."""
    buffer = f'[buffer]\npath = "{tmp_path / "outbox.db"}"\n' if outbox else ""
    text = (base_config(free_port(), "held").replace("shutdown_timeout = 5", "shutdown_timeout = 0.1")
            + buffer + simulated("den", 0.001, '["temperature", "humidity", "pressure"]'))
    tracemalloc.start()
    try:
        async with running(settings_from(tmp_path, text)) as gateway:
            await until(lambda: gateway.buffer.stats().queued >= 100, timeout=10)
            gc.collect()
            queued, before = gateway.buffer.stats().queued, tracemalloc.get_traced_memory()[0]
            await until(lambda: gateway.buffer.stats().queued >= queued + 3000, timeout=20)
            gc.collect()
            held = gateway.buffer.stats().queued - queued
            grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_reading = grown / held
    assert per_reading < 1024, f"{per_reading:.0f} bytes per held reading"


@pytest.mark.parametrize("size", [10, 1000, 5000])
def test_json_bytes_of_any_size_round_trips(size: int) -> None:
    body = {"text": "x" * size}
    assert orjson.loads(json_bytes(body)) == body
