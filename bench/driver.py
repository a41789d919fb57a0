"""BENCH ONLY: a simulated driver that produces as fast as the publisher can take readings.

It is registered (kind ``bench``) only inside the bench harness process, never in the daemon's
driver registry. It is the ``simulated`` driver (same signals, same ``ctx.emit`` path) whose read
loop does not wait for ``interval`` but for the buffer: while more than ``high_water`` readings
are waiting it pauses 1 ms, so the producer never outruns the publisher into dropped readings and
the CPU measured per reading is the cost of readings that were really published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from drivers.simulated.config import SimulatedConfig
from drivers.simulated.driver import SimulatedDriver
from gateway.sdk import DeviceContext


def _nothing_waiting() -> int:
    return 0


BACKLOG: list[Callable[[], int]] = [_nothing_waiting]  # set by the harness


class BenchConfig(SimulatedConfig):
    driver: Literal["bench"] = "bench"  # type: ignore[assignment]
    high_water: int = Field(5000, gt=0)


class BenchDriver(SimulatedDriver):
    async def run(self) -> None:
        high = self.config.high_water  # type: ignore[attr-defined]
        backlog = BACKLOG[0]
        while True:
            self.ctx.emit(await self.read())
            await asyncio.sleep(0)
            while backlog() > high:  # noqa: ASYNC110 - polls a buffer it does not own
                await asyncio.sleep(0.001)


CONFIG = BenchConfig


def create(config: BenchConfig, ctx: DeviceContext) -> BenchDriver:
    return BenchDriver(config, ctx)
