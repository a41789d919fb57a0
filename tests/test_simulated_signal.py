"""The simulated driver's signals (drivers/simulated/driver.py): a daily sine plus Gaussian
noise plus a random-walk drift, clamped to the profile's range; seeded devices reproduce.
The noise comes from a table of the standard normal's quantiles (inverse transform sampling):
its spread must be the profile's ``noise``, centred on the sine."""

from __future__ import annotations

import math
import random
import statistics

from drivers.simulated.config import SimulatedConfig
from drivers.simulated.driver import _NORMAL, SimulatedDriver, _Signal

NOON = 1_796_385_600.0  # a fixed moment (UTC noon): the sine's value there is known


def signal(spec: dict[str, object], seed: int = 7) -> _Signal:
    config = SimulatedConfig.model_validate({"id": "d", "sensors": [spec], "seed": seed})
    return _Signal(config.sensors[0], random.Random(seed))


def test_the_noise_table_is_a_standard_normal() -> None:
    assert len(_NORMAL) == 4096 and list(_NORMAL) == sorted(_NORMAL)
    assert abs(statistics.fmean(_NORMAL)) < 1e-12  # symmetric quantiles
    assert 0.99 < statistics.pstdev(_NORMAL) < 1.0  # the tails beyond 3.67 sigma are cut
    assert 3.66 < _NORMAL[-1] < 3.67
    assert math.isclose(_NORMAL[2048], -_NORMAL[2047])


def test_noise_has_the_profiles_spread_around_the_sine() -> None:
    noisy = signal({"name": "t", "profile": "temperature", "drift": 0, "noise": 0.5,
                    "decimals": 3})
    still = signal({"name": "t", "profile": "temperature", "drift": 0, "noise": 0,
                    "decimals": 3})
    base = still.sample(NOON)
    deviations = [noisy.sample(NOON) - base for _ in range(20_000)]
    assert abs(statistics.fmean(deviations)) < 0.02
    assert 0.48 < statistics.pstdev(deviations) < 0.52
    assert max(map(abs, deviations)) <= 0.5 * 3.67 + 0.001  # the table's tails, rounded


def test_drift_wanders_but_stays_within_its_bound() -> None:
    walk = signal({"name": "h", "profile": "humidity", "noise": 0, "drift": 2.0})
    values = [walk.sample(NOON) for _ in range(5_000)]
    assert len(set(values)) > 100  # it moves
    assert all(walk.low <= v <= walk.high for v in values)
    assert abs(walk.offset) <= walk.wander


async def test_seeded_devices_reproduce_and_differ_from_each_other() -> None:
    def readings(device_id: str) -> list[float]:
        config = SimulatedConfig.model_validate(
            {"id": device_id, "sensors": ["temperature", "humidity"], "seed": 3})
        driver = SimulatedDriver(config, ctx=None)  # type: ignore[arg-type]  # read() needs none
        return [sig.sample(NOON + n) for n in range(50) for sig in driver.signals]

    assert readings("a") == readings("a")
    assert readings("a") != readings("b")  # each stamped-out device has its own stream
