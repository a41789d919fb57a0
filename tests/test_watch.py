"""Device watchdogs scanned together (gateway/core/watch.py): one timer and one pass over the
devices per grid point, a failing check fails its own watchdog only, nothing runs with nothing
watched. The device-level behaviour (offline after silence, restart after a stall) is tested
end to end in tests/test_supervision.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from support.wait import until

from gateway.core.watch import watch


def count_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The shared timers (gateway.core.timers) the running loop arms from now on."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    real = loop.call_at

    def call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__qualname__", "") == "_Alarms._fire":
            calls.append(when)
        return real(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", call_at)
    return calls


class Stalled(Exception):
    pass


async def test_many_watchdogs_share_one_timer_and_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = count_timers(monkeypatch)
    checked: list[int] = []
    watchdogs = watch(0.05)

    def device(n: int) -> Callable[[float], None]:
        return lambda _now: checked.append(n)

    futures = [watchdogs.add(device(n)) for n in range(200)]
    await until(lambda: len(checked) >= 400)  # two grid points
    assert sorted(checked[:200]) == list(range(200))  # every device, once per point
    assert len(timers) in (2, 3)  # one timer per grid point, not one per device
    assert not any(f.done() for f in futures)
    for future in futures:
        watchdogs.discard(future)


async def test_a_failing_check_fails_its_watchdog_only() -> None:
    watchdogs = watch(0.05)
    seen: list[float] = []

    def stalls(now: float) -> None:
        raise Stalled(f"no reading at {now}")

    bad = watchdogs.add(stalls)
    good = watchdogs.add(seen.append)
    with pytest.raises(Stalled):
        async with asyncio.timeout(5):
            await bad
    before = len(seen)
    await until(lambda: len(seen) > before)  # the others are still watched
    assert not good.done()
    watchdogs.discard(good)


async def test_nothing_watched_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    watchdogs = watch(0.05)
    calls: list[float] = []
    future = watchdogs.add(calls.append)
    await until(lambda: len(calls) == 1)
    watchdogs.discard(future)
    timers = count_timers(monkeypatch)
    await asyncio.sleep(0.2)  # four grid points: nothing may run (fixed time is the test)
    assert len(calls) == 1
    assert not timers  # the point armed before the discard is not re-armed
