"""The one small, bounded executor that does the blocking sysfs and procfs reads.

asyncio has no non-blocking file I/O, and a sysfs read blocks in the kernel for as long as the
hardware takes (a 1-Wire temperature conversion: ~750 ms, more with retries). These reads run
here, on at most :data:`WORKERS` threads shared by every ``onewire``, ``iio`` and ``system``
device of the daemon (see :func:`shared_executor`), never on the event loop.

Reads are submitted in a *lane* (a 1-Wire bus master, an IIO device): one read per lane at a
time, in the order submitted (FIFO). A lane stays busy until its read has really returned, even
if the caller stopped waiting (its timeout, a shutdown): a bus that hangs holds one thread, never
more, and the kernel never sees two of our reads on one bus at once.

The workers are daemon threads and are not joined on exit: a read stuck in the kernel cannot
hold up the daemon's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from gateway.sdk import DeviceContext

__all__ = ["EXECUTOR_KEY", "WORKERS", "SysfsExecutor", "shared_executor"]

T = TypeVar("T")

WORKERS = 4  # threads at most, for the whole daemon
EXECUTOR_KEY = "sensor-gateway/sysfs-executor"  # the ctx.shared key: one executor per daemon


@dataclass(slots=True)
class _Job(Generic[T]):
    fn: Callable[..., T]
    args: tuple[Any, ...]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop

    def run(self) -> None:
        """In a worker thread: call ``fn`` and hand its outcome to the loop."""
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting driver
            self._deliver(None, exc)
        else:
            self._deliver(result, None)

    def _deliver(self, result: T | None, exc: Exception | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.future, result, exc)


def _settle(future: asyncio.Future[Any], result: object, exc: Exception | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class SysfsExecutor:
    """At most ``workers`` threads; reads run one at a time per lane. An async context manager:
    leaving it cancels the reads not yet started and lets the threads go."""

    def __init__(self, workers: int = WORKERS) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._mutex = threading.Lock()
        self._lanes: dict[Hashable, asyncio.Lock] = {}
        self._closed = False

    @property
    def threads(self) -> int:
        """Worker threads started so far (never more than ``workers``)."""
        return len(self._threads)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
        for _ in self._threads:
            self._jobs.put(None)

    async def run(self, lane: Hashable, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread, after every earlier read of ``lane`` has returned."""
        lock = self._lanes.setdefault(lane, asyncio.Lock())
        await lock.acquire()
        if self._closed:
            lock.release()
            raise RuntimeError("the sysfs executor is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        future.add_done_callback(lambda _: lock.release())  # when the read has really ended
        self._submit(_Job(fn, args, future, loop))
        return await asyncio.shield(future)

    def _submit(self, job: _Job[Any]) -> None:
        self._jobs.put(job)
        with self._mutex:
            spawn = self._jobs.qsize() > self._idle and len(self._threads) < self.workers
            if spawn:
                self._idle += 1  # counted before it starts, so a burst spawns no extra thread
        if spawn:
            thread = threading.Thread(target=self._work, name=f"sysfs-io-{len(self._threads)}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            with self._mutex:
                self._idle -= 1
            if job is None:
                return
            job.run()
            with self._mutex:
                self._idle += 1


def shared_executor(ctx: DeviceContext) -> AbstractAsyncContextManager[SysfsExecutor]:
    """The daemon's one sysfs executor, shared by every device that reads sysfs or procfs."""
    return ctx.shared(EXECUTOR_KEY, SysfsExecutor)
