"""Event-loop health: how late a periodic timer fires (lag), and who blocks the loop.

A timer on the loop wakes every :data:`PERIOD` and records how late it is. A helper thread
watches that heartbeat; when it is more than ``threshold`` (100 ms) overdue, the thread samples
the loop thread's stack (``sys._current_frames``) and the running task, and hands that to the
loop (``call_soon_threadsafe``). The thread does no I/O: the warning is logged by the loop as soon
as it runs again, with the full blocked time, the culprit (task name or callback) and its stack.
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

PERIOD = 0.1  # seconds between two lag measurements
THRESHOLD = 0.1  # a block longer than this is reported
REPEAT_PERIOD = 60.0  # seconds: one warning per culprit at most this often (all are counted)
_ASYNCIO_DIR = asyncio.__file__.rsplit("/", 1)[0]


@dataclass
class _Block:
    since: float  # monotonic time of the last heartbeat before the block
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
        self._beat = time.monotonic()
        self._reported_beat = -1.0
        self._stop = threading.Event()
        self._reported: dict[str, tuple[float, int]] = {}  # culprit -> (last logged, since)

    def take_max(self) -> float:
        worst, self.max_lag = self.max_lag, self.lag
        return worst

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        watcher = threading.Thread(target=self._watch, args=(loop, threading.get_ident()),
                                   name="loop-monitor", daemon=True)
        self._beat = time.monotonic()
        watcher.start()
        try:
            while True:
                due = loop.time() + self.period
                await asyncio.sleep(self.period)
                self._measure(max(0.0, loop.time() - due))
        finally:
            self._stop.set()  # the thread ends within period/2; nothing to wait for

    def _measure(self, lag: float) -> None:
        self._beat = time.monotonic()
        self.ticks += 1
        self.lag = lag
        self.max_lag = max(self.max_lag, lag)

    # --- the helper thread (no I/O here) ---------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        while not self._stop.wait(self.period / 2):
            beat = self._beat
            overdue = time.monotonic() - beat - self.period
            if overdue <= self.threshold or beat == self._reported_beat:
                continue
            self._reported_beat = beat
            frame = sys._current_frames().get(loop_thread)
            if frame is None:
                continue
            block = _Block(beat, _culprit(loop, frame), "".join(traceback.format_stack(frame)))
            try:
                loop.call_soon_threadsafe(self._report, block)
            except RuntimeError:  # the loop is closed
                return

    # --- back on the loop ------------------------------------------------------------------

    def _report(self, block: _Block) -> None:
        self.blocks += 1
        now = time.monotonic()
        blocked = now - block.since - self.period
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
