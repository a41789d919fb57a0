"""The one bounded executor of the sysfs drivers: bounded threads, one read per lane at a time
in FIFO order, a lane held until its read has really returned, no wait on exit."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from drivers._sysfs import SysfsExecutor


def blocking(gate: threading.Event, log: list[str], name: str) -> str:
    log.append(f"start {name}")
    assert gate.wait(10)
    log.append(f"end {name}")
    return name


async def test_reads_run_in_threads_not_on_the_loop() -> None:
    loop_thread = threading.get_ident()
    async with SysfsExecutor() as pool:
        ident = await pool.run("lane", threading.get_ident)
    assert ident != loop_thread


async def test_one_read_per_lane_in_order_lanes_side_by_side() -> None:
    gate, log = threading.Event(), list[str]()
    async with SysfsExecutor() as pool:
        first = asyncio.create_task(pool.run("bus1", blocking, gate, log, "a1"))
        second = asyncio.create_task(pool.run("bus1", blocking, gate, log, "a2"))
        other = asyncio.create_task(pool.run("bus2", blocking, gate, log, "b1"))
        deadline = time.monotonic() + 5
        while len(log) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert sorted(log) == ["start a1", "start b1"], "a2 waits for a1; bus2 does not"
        gate.set()
        assert list(await asyncio.gather(first, second, other)) == ["a1", "a2", "b1"]
    assert log.index("end a1") < log.index("start a2")


async def test_threads_are_bounded() -> None:
    gate, log = threading.Event(), list[str]()
    async with SysfsExecutor(workers=2) as pool:
        tasks = [asyncio.create_task(pool.run(f"lane{i}", blocking, gate, log, str(i)))
                 for i in range(6)]
        await asyncio.sleep(0.3)
        assert pool.threads == 2
        assert len(log) == 2, "only two reads run at once; the others wait for a thread"
        gate.set()
        assert sorted(await asyncio.gather(*tasks)) == [str(i) for i in range(6)]
        assert pool.threads == 2


async def test_a_lane_stays_busy_until_the_abandoned_read_returns() -> None:
    """A caller that stops waiting (its timeout) does not free the lane: the kernel would see
    two of our reads on one bus."""
    gate, log = threading.Event(), list[str]()
    async with SysfsExecutor() as pool:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.run("bus", blocking, gate, log, "stuck")
        follower = asyncio.create_task(pool.run("bus", blocking, gate, log, "next"))
        await asyncio.sleep(0.2)
        assert log == ["start stuck"]
        gate.set()
        assert await follower == "next"
    assert log == ["start stuck", "end stuck", "start next", "end next"]


async def test_exceptions_reach_the_caller() -> None:
    async with SysfsExecutor() as pool:
        with pytest.raises(FileNotFoundError):
            await pool.run("lane", open, "/nonexistent/file")


async def test_leaving_does_not_wait_for_a_stuck_read() -> None:
    gate, log = threading.Event(), list[str]()
    started = time.monotonic()
    async with SysfsExecutor() as pool:
        task = asyncio.create_task(pool.run("bus", blocking, gate, log, "stuck"))
        queued = asyncio.create_task(pool.run("bus", blocking, gate, log, "queued"))
        await asyncio.sleep(0.1)
    assert time.monotonic() - started < 2
    gate.set()
    assert await task == "stuck"
    with pytest.raises(RuntimeError, match="closed"):
        await queued
    assert "start queued" not in log
    for thread in threading.enumerate():  # the workers are daemons: they never block an exit
        if thread.name.startswith("sysfs-io-"):
            assert thread.daemon
