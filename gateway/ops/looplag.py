"""Event-loop health: how late a periodic timer fires (lag), and who blocks the loop.

Two cheap mechanisms, so that watching costs next to nothing on a Pi Zero:

- A timer on the loop wakes every :data:`PERIOD` (1 s, on the grid the device ticks use) and
  records how late it is: the lag gauge.
- The loop's selector is wrapped so that each pass of the loop notes when it left ``select()``
  (one clock read per pass). A pass still running ``threshold`` (100 ms) after it began is a
  block. Who notices it, by default (``alarm`` mode, the daemon's): a one-shot ``SIGALRM``
  timer (``setitimer(ITIMER_REAL)``) armed when each pass begins and disarmed before the loop
  waits in ``select()``. It fires only in a pass that lasts ``threshold``; its handler runs on
  the loop's own thread, in the middle of the culprit (a blocking system call is interrupted
  and resumed, PEP 475), takes the culprit (task name or callback) and its stack from the
  frame it interrupted, and hands them to the loop (``call_soon_threadsafe``). An idle gateway
  pays two system calls per wake-up and nothing else: no thread, no GIL hand-off.
- Where ``SIGALRM`` is not ours to take (the loop runs outside the main thread, or someone
  else, e.g. pytest-timeout, holds the signal or the timer), a helper thread does it
  (``thread`` mode): it looks every ``threshold`` while the loop is busy, sleeps while the loop
  waits in ``select()`` until its next pass wakes it, and takes the stack from the loop
  thread's frames (``sys._current_frames``).

Either way every block longer than ``threshold`` is caught, its length is known from when the
pass began, and the warning is logged by the loop as soon as it runs again, with the blocked
time, the culprit and its stack. A block also counts as lag.

On an event loop without a selector (not asyncio's own), only the lag gauge works; that is logged.
A loop blocked for good logs nothing; the systemd watchdog then kills it with SIGABRT, on which
``faulthandler`` (enabled by ``run``) dumps every thread's stack to the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Literal

from gateway.core.timers import next_grid_point, sleep_until

__all__ = ["LoopMonitor"]

log = logging.getLogger("gateway.loop")

PERIOD = 1.0  # seconds between two lag measurements (loop wake-ups)
THRESHOLD = 0.1  # a block longer than this is reported; the helper thread looks this often
REPEAT_PERIOD = 60.0  # seconds: one warning per culprit at most this often (all are counted)
_ASYNCIO_DIR = asyncio.__file__.rsplit("/", 1)[0]
_EVENTS_FILE = asyncio.events.__file__


@dataclass
class _Block:
    since: float  # monotonic time the blocked pass of the loop began
    culprit: str
    stack: str


class _PassClock:
    """Stands in for the loop's selector and notes when each pass of the loop begins (when
    ``select()`` returns); everything else goes to the real selector."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        """Made on the loop, inside a pass: the loop is busy now."""
        self.selector = selector
        self.passes = 0
        self.busy_since = time.monotonic()  # 0 while the loop waits in select()
        self.sleepers: list[threading.Event] = []  # watcher threads waiting for the next pass
        self.alarm = 0.0  # alarm mode: SIGALRM this long after a pass begins (0: off)
        self._lock = threading.Lock()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.alarm and timeout != 0:  # the loop may sleep now: no alarm while it does
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.busy_since = 0.0
        try:
            return self.selector.select(timeout)
        finally:
            self.passes += 1
            self.busy_since = time.monotonic()
            if self.alarm:
                signal.setitimer(signal.ITIMER_REAL, self.alarm)
            if self.sleepers:  # a watcher sleeps while the loop is idle: this pass wakes it
                with self._lock:
                    for event in self.sleepers:
                        event.set()
                    self.sleepers.clear()

    def sleep_while_idle(self, wake: threading.Event, stop: threading.Event) -> None:
        """The watcher thread: wait until the loop's next pass begins (or ``stop``; whoever
        sets ``stop`` sets ``wake`` after it), if the loop is idle now."""
        wake.clear()
        with self._lock:
            self.sleepers.append(wake)
        if not self.busy()[1] and not stop.is_set():  # still idle now that we asked to be
            wake.wait()  # woken: its next pass will
        with self._lock:
            if wake in self.sleepers:
                self.sleepers.remove(wake)

    def busy(self) -> tuple[int, float]:
        """(pass, since when) of a running pass; since is 0 while the loop is idle."""
        while True:
            passes, since = self.passes, self.busy_since
            if passes == self.passes:  # read both within one pass
                return passes, since

    def __getattr__(self, name: str) -> object:
        return getattr(self.selector, name)


def _pass_clock(loop: asyncio.AbstractEventLoop) -> _PassClock | None:
    """The loop's pass clock, wrapped around its selector on first use. It stays for the
    loop's life (one clock read per pass), so that monitors started and stopped in any order
    (a reload, two gateways in one test loop) always share one that is still in place."""
    selector = getattr(loop, "_selector", None)
    if isinstance(selector, _PassClock):
        return selector
    if not isinstance(selector, selectors.BaseSelector):
        return None
    clock = _PassClock(selector)
    loop._selector = clock  # type: ignore[attr-defined]
    return clock


class LoopMonitor:
    def __init__(self, threshold: float = THRESHOLD, period: float = PERIOD, *,
                 alarm: bool = True) -> None:
        """``alarm``: watch with SIGALRM where it is free (else, or with False, a thread)."""
        self.threshold = threshold
        self.alarm = alarm
        self.period = period
        self.lag = 0.0  # last measured lateness, seconds
        self.max_lag = 0.0  # worst lateness since the last take_max()
        self.blocks = 0  # blocks longer than threshold
        self.ticks = 0  # measurements taken
        self.watching = threading.Event()  # set once blocks are watched for
        self.mode: Literal["alarm", "thread", "lag only"] | None = None  # once it runs
        self._stop = threading.Event()
        self._wake = threading.Event()  # the helper thread's: the loop began a pass (or stop)
        self._reported: dict[str, tuple[float, int]] = {}  # culprit -> (last logged, since)

    def take_max(self) -> float:
        worst, self.max_lag = self.max_lag, self.lag
        return worst

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = _pass_clock(loop)
        if clock is None:
            self.mode = "lag only"
            log.info("this event loop has no selector to watch: lag gauge only, no block "
                     "warnings")
            await self._measure_lag(loop)
            return
        if self.alarm and _alarm_is_free():
            self.mode = "alarm"
            with self._alarm_watch(loop, clock):
                await self._measure_lag(loop)
            return
        self.mode = "thread"
        watcher = threading.Thread(target=self._watch, args=(loop, threading.get_ident(), clock),
                                   name="loop-monitor", daemon=True)
        watcher.start()
        try:
            await self._measure_lag(loop)
        finally:
            self._stop.set()  # the thread ends within threshold; nothing to wait for
            self._wake.set()

    @contextmanager
    def _alarm_watch(self, loop: asyncio.AbstractEventLoop, clock: _PassClock) -> Iterator[None]:
        """SIGALRM ``threshold`` into every pass (see the module doc); undone on the way out."""
        reported = -1  # the pass last reported: one report per block

        def on_alarm(_signum: int, frame: FrameType | None) -> None:
            nonlocal reported
            passes, since = clock.busy()
            if not since or passes == reported or frame is None:
                return  # idle (a late signal), or this block is known already
            if time.monotonic() - since < self.threshold * 0.9:
                return  # the last pass's alarm, due as it ended: this pass has just begun
            reported = passes
            block = _Block(since, _culprit(loop, frame), "".join(traceback.format_stack(frame)))
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(self._report, block)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        clock.alarm = self.threshold
        # this pass (we run in it) began before the alarm was armed: its share of threshold
        signal.setitimer(signal.ITIMER_REAL, max(1e-6, clock.busy_since + self.threshold
                                                 - time.monotonic()))
        self.watching.set()
        try:
            yield
        finally:
            clock.alarm = 0.0
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    async def _measure_lag(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:  # on the grid the device ticks use: no wake-up of its own at 1 s
            due = next_grid_point(self.period, loop.time(), loop)
            await sleep_until(due, loop)
            self._measure(max(0.0, loop.time() - due))

    def _measure(self, lag: float) -> None:
        self.ticks += 1
        self.lag = lag
        self.max_lag = max(self.max_lag, lag)

    # --- the helper thread (no I/O here) ---------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, loop_thread: int, clock: _PassClock) -> None:
        reported = -1  # the pass last reported: one report per block
        self.watching.set()
        while not self._stop.is_set():
            passes, since = clock.busy()
            if not since:  # idle in select(): nothing can block until the next pass begins
                clock.sleep_while_idle(self._wake, self._stop)
                continue
            if passes == reported:  # that block was reported; look again within threshold
                time.sleep(self.threshold)
                continue
            wait = since + self.threshold - time.monotonic()
            if wait > 0:  # busy, but not for long yet: look again when it would be a block
                time.sleep(wait)
            if clock.busy() != (passes, since) or self._stop.is_set():
                continue  # that pass ended: the loop waits in select() or runs a later one
            reported = passes
            frame = sys._current_frames().get(loop_thread)
            if frame is None:
                return
            block = _Block(since, _culprit(loop, frame), "".join(traceback.format_stack(frame)))
            del frame  # hold no frame of the loop thread
            try:
                loop.call_soon_threadsafe(self._report, block)
            except RuntimeError:  # the loop is closed
                return

    # --- back on the loop ------------------------------------------------------------------

    def _report(self, block: _Block) -> None:
        self.blocks += 1
        now = time.monotonic()
        blocked = now - block.since
        self.max_lag = max(self.max_lag, blocked)
        last, quiet = self._reported.get(block.culprit, (float("-inf"), 0))
        if now - last < REPEAT_PERIOD:  # the same culprit again: one line a minute is enough
            self._reported[block.culprit] = (last, quiet + 1)
            log.debug("event loop blocked for %.3fs by %s (again)", blocked, block.culprit)
            return
        again = f" ({quiet} more times since the last report)" if quiet else ""
        self._reported[block.culprit] = (now, 0)
        log.warning("event loop blocked for %.3fs by %s%s; its stack when the block "
                    "passed %.0f ms:\n%s", blocked, block.culprit, again,
                    self.threshold * 1000, block.stack.rstrip())


def _alarm_is_free() -> bool:
    """SIGALRM and the real-time interval timer may be ours: the loop runs in the main thread
    (only it receives Python signal handlers) and nobody else has a handler or a timer set."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def _callback_frame(frame: FrameType | None) -> FrameType | None:
    """The frame of the loop callback running now (``Handle._run``), if any."""
    while frame is not None:
        if frame.f_code.co_name == "_run" and frame.f_code.co_filename == _EVENTS_FILE:
            return frame
        frame = frame.f_back
    return None


def _culprit(loop: asyncio.AbstractEventLoop, frame: FrameType) -> str:
    if _callback_frame(frame) is None:  # between callbacks: asyncio's own code
        return f"the event loop itself at {_describe(frame)}"
    task = asyncio.current_task(loop)
    if task is not None:
        return f"task {task.get_name()!r} at {_describe(frame)}"
    return f"callback {_describe(_first_user_frame(frame))}"


def _describe(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})"


def _first_user_frame(frame: FrameType) -> FrameType:
    """The outermost frame run by asyncio's own code (the callback or coroutine it called)."""
    frames: list[FrameType] = []
    current: FrameType | None = frame
    while current is not None:
        frames.append(current)
        current = current.f_back
    chosen = frames[0]
    for outer, inner in zip(reversed(frames), reversed(frames[:-1]), strict=True):
        if outer.f_code.co_filename.startswith(_ASYNCIO_DIR) and \
                not inner.f_code.co_filename.startswith(_ASYNCIO_DIR):
            chosen = inner
            break
    return chosen
