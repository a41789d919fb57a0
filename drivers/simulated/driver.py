"""Simulated sensors: realistic signals for laptops, demos, load tests and fault drills.

Each sensor follows a daily sine (peaking in the afternoon) plus Gaussian noise plus a slow
random-walk drift, clamped to its plausible range. Seeded devices are reproducible.

The Gaussian numbers come from a table of the standard normal's 4 096 quantiles, picked by 12
random bits (inverse transform sampling): 0.04 us a number against 0.4 us for
``random.gauss``, which was a fifth of what a simulated reading cost. The table reaches
3.67 standard deviations; noise and drift look the same on a chart.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections.abc import Sequence
from statistics import NormalDist

from drivers.simulated.config import FaultSpec, SimulatedConfig, SimulatedSensor
from gateway.sdk import DeviceContext, Measurement, PolledDriver

__all__ = ["SimulatedDriver"]

_BITS = 12
# the standard normal's quantiles at the middles of 2**_BITS equal slices of probability
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / (1 << _BITS)) for i in range(1 << _BITS))


class _Signal:
    """One sensor's signal generator. Its numbers are copied out of the profile once: a device
    reads every sensor every tick, and a thousand of them are the 1 000-device bench."""

    __slots__ = ("amplitude", "base", "bits", "decimals", "drift", "high", "low", "name",
                 "noise", "offset", "period", "phase", "unit", "wander")

    def __init__(self, spec: SimulatedSensor, rng: random.Random) -> None:
        p = spec.resolved()
        self.name = spec.name
        self.unit = p.unit
        self.period = spec.period
        self.bits = rng.getrandbits
        self.phase = rng.uniform(-0.02, 0.02) * self.period
        self.offset = 0.0
        self.base, self.amplitude, self.noise, self.drift = p.base, p.amplitude, p.noise, p.drift
        self.low, self.high, self.decimals = p.min, p.max, p.decimals
        self.wander = p.amplitude + 1  # the drift stays within this of the daily sine

    def sample(self, now: float) -> float:
        if self.drift:  # a random walk, held within ``wander`` (plain compares: min/max cost)
            offset = self.offset + self.drift * _NORMAL[self.bits(_BITS)]
            wander = self.wander
            self.offset = wander if offset > wander else -wander if offset < -wander else offset
        # Minimum at 05:00, maximum at 17:00 UTC for the daily period.
        fraction = ((now + self.phase) % self.period) / self.period
        value = self.base + self.amplitude * math.sin(_TAU * (fraction - _PEAK)) + self.offset
        if self.noise:
            value += self.noise * _NORMAL[self.bits(_BITS)]
        value = self.high if value > self.high else self.low if value < self.low else value
        return round(value, self.decimals)

    def out_of_range(self) -> float:
        return self.high + (self.high - self.low)

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high


_TAU = 2 * math.pi
_PEAK = 11 / 24  # the sine's zero crossing upwards, as a fraction of the period (11:00)


class SimulatedDriver(PolledDriver[SimulatedConfig]):
    def __init__(self, config: SimulatedConfig, ctx: DeviceContext) -> None:
        super().__init__(config, ctx)
        seed = config.seed
        if seed is not None:  # each stamped-out device gets its own, reproducible stream
            seed = seed ^ zlib.crc32(config.id.encode())
        rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography
        self.signals = [_Signal(spec, rng) for spec in config.sensors]
        self.reads = 0
        faults = config.faults
        self.faulty = any((faults.raise_every, faults.hang_after, faults.drop_every,
                           faults.out_of_range_every))

    async def read(self) -> Sequence[Measurement]:
        self.reads += 1
        if self.faulty:
            return await self._read_with_faults()
        now = time.time()
        measurements = []
        for sig in self.signals:
            value = sig.sample(now)
            if sig.low <= value <= sig.high:
                measurements.append(Measurement(sig.name, value, sig.unit))
            else:  # rounding took it out of a range narrower than its decimals
                self.ctx.count_error("out_of_range", f"{sig.name}={value}")
        return measurements

    async def _read_with_faults(self) -> Sequence[Measurement]:
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
        return Measurement(sig.name, value, sig.unit)

