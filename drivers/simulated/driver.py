"""Simulated sensors: realistic signals for laptops, demos, load tests and fault drills.

Each sensor follows a daily sine (peaking in the afternoon) plus Gaussian noise plus a slow
random-walk drift, clamped to its plausible range. Seeded devices are reproducible.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections.abc import Sequence

from drivers.simulated.config import FaultSpec, SimulatedConfig, SimulatedSensor
from gateway.sdk import DeviceContext, Measurement, PolledDriver

__all__ = ["SimulatedDriver"]

class _Signal:
    """One sensor's signal generator."""

    def __init__(self, spec: SimulatedSensor, rng: random.Random) -> None:
        self.name = spec.name
        self.profile = spec.resolved()
        self.period = spec.period
        self.rng = rng
        self.phase = rng.uniform(-0.02, 0.02) * self.period
        self.offset = 0.0

    def sample(self, now: float) -> float:
        p = self.profile
        self.offset += self.rng.gauss(0, p.drift) if p.drift else 0.0
        self.offset = max(-p.amplitude - 1, min(p.amplitude + 1, self.offset))
        # Minimum at 05:00, maximum at 17:00 UTC for the daily period.
        fraction = ((now + self.phase) % self.period) / self.period
        angle = 2 * math.pi * (fraction - 11 / 24)
        value = p.base + p.amplitude * math.sin(angle) + self.offset
        value += self.rng.gauss(0, p.noise) if p.noise else 0.0
        return round(max(p.min, min(p.max, value)), p.decimals)

    def out_of_range(self) -> float:
        return self.profile.max + (self.profile.max - self.profile.min)

    def in_range(self, value: float) -> bool:
        return self.profile.min <= value <= self.profile.max


class SimulatedDriver(PolledDriver[SimulatedConfig]):
    def __init__(self, config: SimulatedConfig, ctx: DeviceContext) -> None:
        super().__init__(config, ctx)
        seed = config.seed
        if seed is not None:  # each stamped-out device gets its own, reproducible stream
            seed = seed ^ zlib.crc32(config.id.encode())
        rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography
        self.signals = [_Signal(spec, rng) for spec in config.sensors]
        self.reads = 0

    async def read(self) -> Sequence[Measurement]:
        self.reads += 1
        faults = self.config.faults
        await self._maybe_fail(faults)
        if faults.drop_every and self.reads % faults.drop_every == 0:
            return []
        now = time.time()
        inject = bool(faults.out_of_range_every and self.reads % faults.out_of_range_every == 0)
        return [m for m in (self._measure(sig, now, inject) for sig in self.signals) if m]

    async def _maybe_fail(self, faults: FaultSpec) -> None:
        if faults.raise_every and self.reads % faults.raise_every == 0:
            raise RuntimeError(f"injected fault at read {self.reads}")
        if faults.hang_after and self.reads > faults.hang_after:
            await asyncio.Event().wait()  # hangs until the supervisor cancels it

    def _measure(self, sig: _Signal, now: float, inject: bool) -> Measurement | None:
        value = sig.out_of_range() if inject else sig.sample(now)
        if not sig.in_range(value):
            self.ctx.count_error("out_of_range", f"{sig.name}={value}")
            return None
        return Measurement(sig.name, value, sig.profile.unit)

