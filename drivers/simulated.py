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
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.sdk import DeviceConfig, DeviceContext, Measurement, PolledDriver

__all__ = ["CONFIG", "PROFILES", "SimulatedConfig", "SimulatedDriver", "create"]

DAY = 86_400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(_Strict):
    """A built-in sensor kind: unit, plausible range and signal shape."""

    unit: str | None
    min: float
    max: float
    base: float
    amplitude: float
    noise: float
    drift: float  # standard deviation of the random-walk step per read
    decimals: int = 2


PROFILES: dict[str, Profile] = {
    "temperature": Profile(unit="°C", min=-40, max=85, base=21, amplitude=3, noise=0.05,
                           drift=0.01),
    "humidity": Profile(unit="%", min=0, max=100, base=50, amplitude=10, noise=0.3, drift=0.05),
    "pressure": Profile(unit="hPa", min=300, max=1100, base=1013, amplitude=4, noise=0.1,
                        drift=0.02),
    "co2": Profile(unit="ppm", min=400, max=5000, base=650, amplitude=250, noise=10, drift=1,
                   decimals=0),
    "pm25": Profile(unit="µg/m³", min=0, max=1000, base=8, amplitude=5, noise=1, drift=0.1,
                    decimals=1),
    "illuminance": Profile(unit="lx", min=0, max=100_000, base=400, amplitude=450, noise=5,
                           drift=0, decimals=0),
    "battery": Profile(unit="%", min=0, max=100, base=92, amplitude=0, noise=0, drift=0.002,
                       decimals=0),
    "voltage": Profile(unit="V", min=0, max=60, base=3.3, amplitude=0.02, noise=0.005,
                       drift=0.0005, decimals=3),
}


class SensorSpec(_Strict):
    """One simulated sensor: a profile name, optionally with any of its numbers overridden."""

    name: str = Field(min_length=1)
    profile: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    base: float | None = None
    amplitude: float | None = None
    period: float = Field(DAY, gt=0)
    noise: float | None = Field(None, ge=0)
    drift: float | None = Field(None, ge=0)
    decimals: int | None = Field(None, ge=0, le=9)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.profile is not None and self.profile not in PROFILES:
            raise ValueError(f"unknown profile; known: {', '.join(PROFILES)}")
        if self.profile is None and self.name not in PROFILES and None in (self.min, self.max):
            raise ValueError(
                f"not a built-in profile ({', '.join(PROFILES)}): give profile, or min and max"
            )
        lo, hi = self.resolved().min, self.resolved().max
        if lo >= hi:
            raise ValueError("min must be < max")
        return self

    def resolved(self) -> Profile:
        base = PROFILES.get(self.profile or self.name)
        if base is None:  # fully custom: min and max given
            lo, hi = float(self.min or 0), float(self.max or 1)
            base = Profile(unit=None, min=lo, max=hi, base=(lo + hi) / 2,
                           amplitude=(hi - lo) / 4, noise=(hi - lo) / 200, drift=0)
        overrides = {k: v for k, v in self.model_dump(exclude={"name", "profile", "period"}).items()
                     if v is not None}
        return base.model_copy(update=overrides)


class FaultSpec(_Strict):
    """Injected faults, to exercise supervision. Counts are in reads of this device."""

    raise_every: int | None = Field(None, gt=0)
    hang_after: int | None = Field(None, gt=0)
    drop_every: int | None = Field(None, gt=0)
    out_of_range_every: int | None = Field(None, gt=0)


class SimulatedConfig(DeviceConfig):
    driver: Literal["simulated"] = "simulated"
    sensors: list[SensorSpec] = Field(min_length=1)
    count: int | None = Field(None, ge=1, le=100_000)
    seed: int | None = None
    faults: FaultSpec = Field(default_factory=FaultSpec)

    @field_validator("sensors", mode="before")
    @classmethod
    def _names_are_profiles(cls, value: Any) -> Any:  # noqa: ANN401 - raw TOML
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique_sensor_names(self) -> Self:
        names = [s.name for s in self.sensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate sensor names: {', '.join(dupes)}")
        return self

    def expand(self) -> list[Self]:
        if self.count is None:
            return [self]
        return [self.model_copy(update={"id": f"{self.id}-{n}", "count": None})
                for n in range(1, self.count + 1)]

    def sensor_names(self) -> list[str]:
        return [s.name for s in self.sensors]


class _Signal:
    """One sensor's signal generator."""

    def __init__(self, spec: SensorSpec, rng: random.Random) -> None:
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


CONFIG = SimulatedConfig


def create(config: SimulatedConfig, ctx: DeviceContext) -> SimulatedDriver:
    return SimulatedDriver(config, ctx)
