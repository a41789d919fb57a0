"""Event-loop health: how late a periodic timer fires (lag), and who blocks the loop.

Two cheap mechanisms, so that watching costs next to nothing on a Pi Zero:

- A timer on the loop wakes every :data:`PERIOD` (1 s) and records how late it is: the lag gauge.
- A helper thread samples the loop thread's stack (``sys._current_frames``) every
  :data:`SAMPLE` (50 ms) without waking the loop. When the same callback invocation (the same
  ``Handle._run`` frame object) is still running after ``threshold`` (100 ms), the loop is blocked:
  the thread takes the culprit (task name or callback) and its stack and hands them to the loop
  (``call_soon_threadsafe``). The thread does no I/O: the warning is logged by the loop as soon as
  it runs again, with the blocked time (measured from the first sample that saw the callback, so
  it may be up to one sample short), the culprit and its stack. A block also counts as lag.

A loop blocked for good logs nothing; the systemd watchdog then kills it with SIGABRT, on which
``faulthandler`` (enabled by ``run``) dumps every thread's stack to the journal.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import FrameType

__all__ = ["LoopMonitor"]

log = logging.getLogger("gateway.loop")

PERIOD = 1.0  # seconds between two lag measurements (loop wake-ups)
SAMPLE = 0.05  # seconds between two looks at the loop thread's stack (helper thread)
THRESHOLD = 0.1  # a block longer than this is reported
REPEAT_PERIOD = 60.0  # seconds: one warning per culprit at most this often (all are counted)
_ASYNCIO_DIR = asyncio.__file__.rsplit("/", 1)[0]
_EVENTS_FILE = asyncio.events.__file__


@dataclass
class _Block:
    since: float  # monotonic time of the first sample that saw the blocking callback
    culprit: str
    stack: str


class LoopMonitor:
    def __init__(self, threshold: float = THRESHOLD, period: float = PERIOD) -> None:
        self.threshold = threshold
        self.period = period
        self.lag = 0.0  # last measured lateness, seconds
        self.max_lag = 0.0  # worst lateness since the last take_max()
        self.blocks = 0  # blocks longer than threshold
        self.ticks = 0  # measurements taken
        self.watching = threading.Event()  # set once the helper thread samples the loop
        self._stop = threading.Event()
        self._reported: dict[str, tuple[float, int]] = {}  # culprit -> (last logged, since)

    def take_max(self) -> float:
        worst, self.max_lag = self.max_lag, self.lag
        return worst

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        watcher = threading.Thread(target=self._watch, args=(loop, threading.get_ident()),
                                   name="loop-monitor", daemon=True)
        watcher.start()
        try:
            while True:
                due = loop.time() + self.period
                await asyncio.sleep(self.period)
                self._measure(max(0.0, loop.time() - due))
        finally:
            self._stop.set()  # the thread ends within SAMPLE; nothing to wait for

    def _measure(self, lag: float) -> None:
        self.ticks += 1
        self.lag = lag
        self.max_lag = max(self.max_lag, lag)

    # --- the helper thread (no I/O here) ---------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        seen: FrameType | None = None  # the callback invocation running at the last sample
        since = 0.0
        reported: FrameType | None = None
        self.watching.set()
        while not self._stop.is_set():
            time.sleep(SAMPLE)  # a stop is noticed within SAMPLE
            frame = sys._current_frames().get(loop_thread)
            callback = _callback_frame(frame)
            now = time.monotonic()
            if callback is None or callback is not seen:
                seen, since, reported = callback, now, None  # hold no finished frame
                continue
            if now - since < self.threshold or reported is seen:
                continue
            assert frame is not None
            reported = seen
            block = _Block(since, _culprit(loop, frame), "".join(traceback.format_stack(frame)))
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


def _callback_frame(frame: FrameType | None) -> FrameType | None:
    """The frame of the loop callback running now (``Handle._run``); None while the loop waits
    for I/O or timers. A new frame object per invocation, so identity tells two apart."""
    while frame is not None:
        if frame.f_code.co_name == "_run" and frame.f_code.co_filename == _EVENTS_FILE:
            return frame
        frame = frame.f_back
    return None


def _culprit(loop: asyncio.AbstractEventLoop, frame: FrameType) -> str:
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
