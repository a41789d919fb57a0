"""The disk outbox: a SQLite (WAL) file behind the
:class:`~gateway.delivery.buffer.Buffer` interface.

- A reading is written before it is handed to the publisher, and deleted only once the broker
  has it (``ack``). Writes are batched: one transaction every ``commit_interval`` or every
  ``commit_readings`` readings, whichever comes first; so a SIGKILL or a power cut can lose at
  most the readings of the last commit interval (never published, so never seen).
- ``seq`` per topic is written in the same transaction as its reading: it continues across
  restarts and never reuses a number a consumer has seen.
- All SQLite work runs in one dedicated thread; the event loop only hands it batches.
- A corrupt file at start is moved aside (``<name>.corrupt-<UTC time>``) and a fresh one used.
- A write that fails (disk full, I/O error) switches to memory: readings keep flowing, those not
  on disk are counted (``unpersisted``), and every ``RETRY_INTERVAL`` the outbox tries again and
  writes what is still held once it can.
- Bounds and fairness are :class:`~gateway.delivery.buffer.FairQueue`'s (the in-memory index
  of the file).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from gateway.delivery.buffer import DEFAULT_MAX_BYTES, BufferStats, Entry, FairQueue, Overflow
from gateway.delivery.store import Loaded, Row, Store
from gateway.errors import OutboxLocked

__all__ = ["DiskOutbox"]

log = logging.getLogger("gateway.outbox")
T = TypeVar("T")

RETRY_INTERVAL = 5.0  # seconds between two attempts to write again after a failure


class _Sequences(dict[str, int]):
    """The seq map the devices update; remembers which topics changed since the last commit."""

    def __init__(self) -> None:
        super().__init__()
        self.dirty: set[str] = set()

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        self.dirty.add(key)

    def take_dirty(self) -> list[tuple[str, int]]:
        changed = [(topic, self[topic]) for topic in self.dirty]
        self.dirty.clear()
        return changed


class DiskOutbox(FairQueue):
    """Use as ``async with DiskOutbox(path) as outbox:`` and run :meth:`run` in a task."""

    what = "outbox"

    def __init__(
        self,
        path: Path,
        max_readings: int = 100_000,
        overflow: Overflow = "drop_oldest",
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float | None = None,
        commit_interval: float = 0.1,
        commit_readings: int = 1000,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        super().__init__(max_readings, overflow, max_bytes=max_bytes, max_age=max_age)
        self.path = path
        self.commit_interval = commit_interval
        self.commit_readings = commit_readings
        self.retry_interval = retry_interval
        self.sequences = _Sequences()
        self.commits = 0
        self.unpersisted = 0  # readings that could not be written (disk full or broken)
        self._store = Store(path)
        self._thread: ThreadPoolExecutor | None = None
        self._pending: dict[int, Entry] = {}  # put, not written yet
        self._deletes: list[int] = []  # acked or dropped, still in the file
        self._failing = False  # the last write failed: memory only until a retry succeeds
        self._closed = False  # the file could not be opened at start: memory only for this run
        self.moved_aside: Path | None = None
        self._commit_now = asyncio.Event()
        self._work = asyncio.Event()  # something to commit: an idle outbox does not wake

    # --- the thread --------------------------------------------------------------------------

    async def _call(self, fn: Any, *args: Any) -> Any:  # noqa: ANN401 - a thin executor hop
        assert self._thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def __aenter__(self) -> Self:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="outbox-sqlite")
        try:
            loaded: Loaded = await self._call(self._store.open)
        except OutboxLocked:
            self._thread.shutdown(wait=True)
            raise
        except (sqlite3.Error, OSError) as exc:
            log.error(  # noqa: TRY400 - one loud line, no traceback
                "outbox %s cannot be opened (%s): running on memory for this run; readings "
                "are NOT persisted", self.path, exc)
            self._closed = True
            return self
        self.moved_aside = loaded.moved_aside
        self._restore(loaded)
        return self

    def _restore(self, loaded: Loaded) -> None:
        if loaded.unclean:
            log.warning("outbox %s was not closed cleanly (killed, crashed or power cut): the "
                        "readings of the last commit interval (%.0f ms) before it may be lost",
                        self.path, self.commit_interval * 1000)
        self.sequences.update(loaded.seqs)
        self.sequences.dirty.clear()
        for ident, device, topic, payload, ts in loaded.rows:
            entry = Entry(topic, payload, device, ts)
            entry.id, entry.ready, entry.persisted = ident, True, True
            self._admit(entry)
        if loaded.rows:
            self._ids = itertools.count(loaded.rows[-1][0] + 1)
            log.info("outbox %s: %d undelivered readings from the last run",
                     self.path, len(loaded.rows))

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._failing:
                await self._retry()
            elif not self._closed:
                await self.commit()
            lost = sum(1 for entry in self._held_entries() if not entry.persisted)
            if lost:
                log.error("outbox: %d readings could not be written to %s and are lost",
                          lost, self.path)
            await self._call(self._close_store)
            self.log_totals()
        finally:
            assert self._thread is not None
            self._thread.shutdown(wait=True)

    def _close_store(self) -> None:
        try:
            self._store.checkpoint()
        except sqlite3.Error as exc:
            log.debug("outbox checkpoint failed: %s", exc)
        self._store.close()

    # --- the buffer side ---------------------------------------------------------------------

    def put(self, entry: Entry) -> None:
        entry.ready = self._failing or self._closed
        if not self._put(entry):
            return
        if entry.ready:
            self.unpersisted += 1
        else:
            self._pending[entry.id] = entry
            if len(self._pending) == 1:
                self._work.set()
            if len(self._pending) >= self.commit_readings:
                self._commit_now.set()

    def _dropped(self, entry: Entry) -> None:
        self._forget(entry)

    def _released(self, entry: Entry) -> None:
        self._forget(entry)

    def _forget(self, entry: Entry) -> None:
        if self._pending.pop(entry.id, None) is None and entry.persisted:
            self._deletes.append(entry.id)
            if len(self._deletes) == 1:
                self._work.set()

    def stats(self) -> BufferStats:
        stats = super().stats()
        stats.unpersisted = self.unpersisted
        stats.persistent = not (self._failing or self._closed)
        return stats

    # --- committing --------------------------------------------------------------------------

    async def run(self) -> None:
        """Commit every ``commit_interval`` (sooner when ``commit_readings`` are waiting)."""
        age_every = self._age_tick()
        loop = asyncio.get_running_loop()
        next_age = loop.time() + age_every
        while True:
            if self._closed:
                await asyncio.sleep(age_every)
            elif self._failing:
                await asyncio.sleep(self.retry_interval)
                await self._retry()
            else:
                if not (self._pending or self._deletes or self.sequences.dirty):
                    with contextlib.suppress(TimeoutError):  # idle: no wake-up but for age
                        async with asyncio.timeout(age_every if self.max_age else None):
                            await self._work.wait()
                self._work.clear()
                try:
                    async with asyncio.timeout(self.commit_interval):
                        await self._commit_now.wait()
                except TimeoutError:
                    pass
                self._commit_now.clear()
                await self.commit()
            if loop.time() >= next_age:
                next_age = loop.time() + age_every
                self.expire()

    async def commit(self) -> None:
        """Write what was put and delete what was acked since the last commit."""
        if self._failing or self._closed:
            return
        if not (self._pending or self._deletes or self.sequences.dirty):
            return
        entries = list(self._pending.values())
        self._pending.clear()
        for entry in entries:
            entry.persisted = True  # from now on a drop or an ack must delete it from the file
        deletes, self._deletes = self._deletes, []
        seqs = self.sequences.take_dirty()
        try:
            await self._call(self._store.write, [_row(e) for e in entries], deletes, seqs)
        except (sqlite3.Error, OSError) as exc:
            self._write_failed(exc, entries, deletes, seqs)
            return
        self.commits += 1
        for entry in entries:
            entry.ready = True
        if entries:
            self._nonempty.set()

    def _write_failed(
        self, exc: BaseException, entries: list[Entry], deletes: list[int],
        seqs: list[tuple[str, int]],
    ) -> None:
        self._failing = True
        entries = [*entries, *self._pending.values()]  # and those put during the failed write
        self._pending.clear()
        for entry in entries:
            entry.persisted = False
            entry.ready = True
        self.unpersisted += len(entries)
        self._deletes[:0] = deletes
        self.sequences.dirty.update(topic for topic, _ in seqs)
        if entries:
            self._nonempty.set()
        log.error("outbox %s: write failed (%s): running on memory (readings not on disk are "
                  "lost on restart); retrying every %.0fs", self.path, exc, self.retry_interval)

    async def _retry(self) -> None:
        """After a failure: (re)open if needed, write every held reading not on disk yet."""
        entries = sorted((e for e in self._held_entries() if not e.persisted), key=_entry_id)
        deletes, self._deletes = self._deletes, []
        seqs = self.sequences.take_dirty()
        for entry in entries:
            entry.persisted = True
        try:
            await self._call(self._store.write, [_row(e) for e in entries], deletes, seqs)
        except (sqlite3.Error, OSError) as exc:
            for entry in entries:
                entry.persisted = False
            self._deletes[:0] = deletes
            self.sequences.dirty.update(topic for topic, _ in seqs)
            log.debug("outbox %s still not writable: %s", self.path, exc)
            return
        self._failing = False
        self.commits += 1
        log.warning("outbox %s writable again: %d held readings written; %d readings were not "
                    "persisted meanwhile", self.path, len(entries), self.unpersisted)

    def _held_entries(self) -> list[Entry]:
        held = [entry for queue in self._queues.values() for entry in queue]
        held.extend(self._inflight.values())
        return held


def _row(entry: Entry) -> Row:
    return (entry.id, entry.device, entry.topic, entry.payload, entry.ts)


def _entry_id(entry: Entry) -> int:
    return entry.id

