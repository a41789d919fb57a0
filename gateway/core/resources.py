"""Resources shared by several devices (a BLE scanner per adapter, an RS-485 bus per port).

Each resource lives in its own named task in the daemon's TaskGroup, so it is entered and exited
in one task (as asyncio context managers require) whichever device came first or left last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

__all__ = ["SharedResources"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class _Slot:
    def __init__(self) -> None:
        self.users = 0
        self.value: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.released = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class SharedResources:
    """Reference-counted shared async context managers, keyed by ``key``."""

    def __init__(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg
        self._slots: dict[Hashable, _Slot] = {}

    @asynccontextmanager
    async def use(
        self, key: Hashable, factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> AsyncIterator[T]:
        slot = self._slots.get(key)
        if slot is None or slot.released.is_set():
            slot = self._slots[key] = _Slot()
            slot.task = self._tg.create_task(self._hold(slot, factory), name=f"shared[{key}]")
        slot.users += 1
        try:
            yield await asyncio.shield(slot.value)
        finally:
            slot.users -= 1
            if slot.users == 0:
                slot.released.set()
                if self._slots.get(key) is slot:
                    del self._slots[key]

    async def _hold(
        self, slot: _Slot, factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> None:
        try:
            async with factory() as value:
                slot.value.set_result(value)
                await slot.released.wait()
        except Exception as exc:  # noqa: BLE001 - handed to the users, who are supervised
            if not slot.value.done():
                slot.value.set_exception(exc)
            else:
                log.warning("shared resource failed while closing: %r", exc)
