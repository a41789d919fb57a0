"""Shared timers: many tasks that wake at the same moment cost one timer, not one each.

Device ticks, watchdogs and the lag timer fall on grids (:func:`next_grid_point`): 1 000
devices at 1 Hz all wake at the same grid point every second. ``asyncio.sleep`` gives each of
them a timer of its own in the loop's heap, whose pushes and pops compare timers in Python: about
10 µs of CPU per sleeper and wake-up. :func:`sleep_until` files a sleeper under its wake-up time
instead; every sleeper of one time shares one loop timer, which wakes them all with a plain
``set_result`` (about 3 µs each). Cancelling a sleeper cancels its own future only.

A grid's origin is where its first user began (:func:`grid_origin`): the first tick of the
first device with that interval, so devices that start together tick exactly one interval
after their first tick.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Grid", "grid_origin", "next_grid_point", "per_loop", "sleep_until"]


class _Alarms:
    """The sleepers of one event loop, by wake-up time, behind a single loop timer."""

    __slots__ = ("armed", "handle", "loop", "times", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiters: dict[float, list[asyncio.Future[None]]] = {}
        self.times: list[float] = []  # heap of the keys of ``waiters``
        self.handle: asyncio.TimerHandle | None = None
        self.armed = float("inf")  # when ``handle`` fires

    def add(self, when: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self.loop.create_future()
        waiters = self.waiters.get(when)
        if waiters is not None:
            waiters.append(future)
            return future
        self.waiters[when] = [future]
        heapq.heappush(self.times, when)
        if when < self.armed:
            if self.handle is not None:
                self.handle.cancel()
            self.armed = when
            self.handle = self.loop.call_at(when, self._fire)
        return future

    def _fire(self) -> None:
        self.handle = None
        self.armed = float("inf")
        # the loop runs a timer up to its clock resolution early: so may the sleepers
        limit = self.loop.time() + _resolution(self.loop)
        times = self.times
        while times and times[0] <= limit:
            for future in self.waiters.pop(heapq.heappop(times)):
                if not future.done():  # a cancelled sleeper's future is done
                    future.set_result(None)
        if times:
            self.armed = times[0]
            self.handle = self.loop.call_at(self.armed, self._fire)


def _resolution(loop: asyncio.AbstractEventLoop) -> float:
    return float(getattr(loop, "_clock_resolution", 1e-9))


def sleep_until(when: float,
                loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[None]:
    """``await sleep_until(when)`` sleeps until the running loop's clock reaches ``when``
    (``loop.time()`` seconds), on a timer shared with every other sleeper of exactly that
    time. ``loop``, where the caller has it, is the running loop (asking for it costs a
    ``getpid`` system call each time). What is awaited is the sleeper's own future, not a
    coroutine around it: one frame fewer to resume at every wake-up."""
    return _alarms(loop or asyncio.get_running_loop()).add(when)


def _alarms(loop: asyncio.AbstractEventLoop) -> _Alarms:
    return per_loop(loop, "_gateway_alarms", _Alarms)


S = TypeVar("S")
_FALLBACK: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = \
    weakref.WeakKeyDictionary()


def per_loop(loop: asyncio.AbstractEventLoop, name: str,
             make: Callable[[asyncio.AbstractEventLoop], S]) -> S:
    """The state ``name`` of ``loop``, made by ``make(loop)`` on first use. It is kept on the
    loop object itself, so that it goes when the loop goes: in a registry keyed weakly by the
    loop, a value that refers to the loop (a timer, a future) would keep it alive forever. A
    loop that takes no attributes keeps its state in such a registry (and stays)."""
    state: S | None = getattr(loop, name, None)
    if state is not None:
        return state
    fallback = _FALLBACK.get(loop)
    if fallback is not None and name in fallback:
        return fallback[name]  # type: ignore[no-any-return]
    state = make(loop)
    try:
        setattr(loop, name, state)
    except AttributeError:  # a loop with __slots__ (not asyncio's own)
        _FALLBACK.setdefault(loop, {})[name] = state
    return state


# Per event loop, per period: the origin of the grid of that period.
_ORIGINS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, float]] = \
    weakref.WeakKeyDictionary()


def grid_origin(period: float) -> float:
    """The origin of the running loop's grid of ``period``: set now by its first caller (a
    device's first tick), the same for every later one."""
    loop = asyncio.get_running_loop()
    return _ORIGINS.setdefault(loop, {}).setdefault(period, loop.time())


def next_grid_point(period: float, now: float,
                    loop: asyncio.AbstractEventLoop | None = None) -> float:
    """The next point of the running loop's grid of ``period`` after ``now`` (not one a timer's
    early wake-up is a hair short of). The grid's origin is where the first device ticking at
    ``period`` began (0 while there is none): watchdogs and other timers on the same period
    wake in the same pass as those ticks, and with :func:`sleep_until` on the same timer.
    ``loop``: the running loop, where the caller has it."""
    try:
        origin = _ORIGINS.get(loop or asyncio.get_running_loop(), {}).get(period, 0.0)
    except RuntimeError:  # no running loop
        origin = 0.0
    return _next_point(origin, period, now)


def _next_point(origin: float, period: float, now: float) -> float:
    return origin + ((now - origin + period * 0.01) // period + 1) * period


class Grid:
    """One grid of the running loop (:func:`grid_origin`, :func:`next_grid_point`) and its
    shared timer, looked up once: for a sleeper that wakes on it again and again (a device's
    ticks), without two weak-dictionary lookups per wake-up."""

    __slots__ = ("_add", "loop", "origin", "period")

    def __init__(self, period: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.period = period
        self.origin = grid_origin(period)
        self._add = _alarms(self.loop).add

    def next_point(self, now: float) -> float:
        """:func:`next_grid_point` of this grid."""
        return _next_point(self.origin, self.period, now)

    def sleep_until(self, when: float) -> asyncio.Future[None]:
        """:func:`sleep_until` (awaited), on the loop of this grid."""
        return self._add(when)
