"""Shared timers (gateway/core/timers.py): sleepers of one moment share one loop timer."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable

import pytest
from support.wait import until

from gateway.core.timers import Grid, grid_origin, next_grid_point, per_loop, sleep_until
from gateway.core.watch import watch


def count_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``call_at`` of the running loop from now on (what each costs: a heap entry)."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    real = loop.call_at

    def call_at(when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        calls.append(when)
        return real(when, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_at", call_at)
    return calls


async def test_sleepers_of_one_moment_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    calls = count_timers(monkeypatch)
    when = loop.time() + 0.05
    woke: list[float] = []

    async def sleeper() -> None:
        await sleep_until(when)
        woke.append(loop.time())

    async with asyncio.TaskGroup() as tg:
        for _ in range(200):
            tg.create_task(sleeper())
    assert len(woke) == 200
    assert min(woke) >= when - 0.001  # the loop may fire a timer a clock resolution early
    assert calls == [when]  # one timer for all of them


async def test_earlier_sleepers_wake_first_and_each_at_its_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await sleep_until(start + delay)
        order.append((name, loop.time() - start))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("late", 0.08))
        tg.create_task(sleeper("early", 0.02))  # filed later, due sooner: the timer moves
        tg.create_task(sleeper("past", -1.0))  # already due: at once
    assert [name for name, _ in order] == ["past", "early", "late"]
    assert order[1][1] >= 0.019 and order[2][1] >= 0.079


async def test_a_cancelled_sleeper_leaves_the_others_of_its_moment_asleep() -> None:
    loop = asyncio.get_running_loop()
    when = loop.time() + 0.05
    woke: list[int] = []

    async def sleeper(n: int) -> None:
        await sleep_until(when)
        woke.append(n)

    tasks = [asyncio.create_task(sleeper(n)) for n in range(3)]
    await asyncio.sleep(0)  # all three asleep
    tasks[1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert tasks[1].cancelled()
    assert sorted(woke) == [0, 2]


async def test_grid_points_of_one_period_are_the_same_moment() -> None:
    """Two devices that compute their next tick at slightly different times share a timer:
    the grid point is the same float."""
    loop = asyncio.get_running_loop()
    origin = grid_origin(0.25)
    assert grid_origin(0.25) == origin  # the first caller set it
    now = loop.time()
    first = next_grid_point(0.25, now)
    assert first == next_grid_point(0.25, now + 0.001, loop)
    assert first > now and (first - origin) / 0.25 == pytest.approx(round((first - origin) / 0.25))
    woke = []

    async def tick() -> None:
        await sleep_until(next_grid_point(0.25, loop.time(), loop), loop)
        woke.append(loop.time())

    async with asyncio.TaskGroup() as tg:
        tg.create_task(tick())
        tg.create_task(tick())
    await until(lambda: len(woke) == 2)
    assert woke[1] - woke[0] < 0.01  # one pass of the loop


async def test_a_grid_object_wakes_on_the_same_points_and_timer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``Grid`` (a device's ticks) is next_grid_point and sleep_until looked up once: the same
    points, and its sleepers share the timer of sleep_until's."""
    loop = asyncio.get_running_loop()
    grid = Grid(0.2)
    now = loop.time()
    assert grid.origin == grid_origin(0.2)
    assert grid.next_point(now) == next_grid_point(0.2, now, loop)
    calls = count_timers(monkeypatch)
    when = grid.next_point(now)
    woke: list[str] = []

    async def sleeper(name: str, wait: Awaitable[None]) -> None:
        await wait
        woke.append(name)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("grid", grid.sleep_until(when)))
        tg.create_task(sleeper("plain", sleep_until(when, loop)))
    assert sorted(woke) == ["grid", "plain"] and loop.time() >= when
    assert calls == [when]


def test_a_finished_loop_is_not_kept_alive_by_its_timers_or_watchdogs() -> None:
    """The shared timers and watchdogs live on their loop: a loop that ran sleepers (some
    still asleep when it ended) and watchdogs is freed once it is gone."""
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loops.append(weakref.ref(loop))
        sleepers = [asyncio.create_task(asyncio.wait_for(sleep_until(loop.time() + 60, loop),
                                                         60)) for _ in range(3)]
        watch(1.0).add(lambda _now: None)
        await asyncio.sleep(0)
        for sleeper in sleepers:
            sleeper.cancel()

    for _ in range(3):
        asyncio.run(main())
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]


def test_per_loop_state_is_made_once_even_on_a_loop_that_takes_no_attributes() -> None:
    class Slotted:  # a loop class with __slots__ (asyncio's own take attributes)
        __slots__ = ("__weakref__",)

    made: list[object] = []

    def make(loop: object) -> object:
        made.append(loop)
        return object()

    real = asyncio.new_event_loop()
    try:
        for loop in (real, Slotted()):
            first = per_loop(loop, "_test_state", make)  # type: ignore[arg-type]
            assert per_loop(loop, "_test_state", make) is first  # type: ignore[arg-type]
    finally:
        real.close()
    assert len(made) == 2
