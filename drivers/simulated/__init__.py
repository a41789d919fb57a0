"""``driver = "simulated"``: realistic signals for laptops, demos, load tests and fault drills.

A driver kind package: ``CONFIG`` and ``create`` are what the registry looks for; the driver
module is imported only when a simulated device runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.simulated.config import SimulatedConfig

if TYPE_CHECKING:
    from drivers.simulated.driver import SimulatedDriver
    from gateway.sdk import DeviceContext

__all__ = ["CONFIG", "create"]

CONFIG = SimulatedConfig


def create(config: SimulatedConfig, ctx: DeviceContext) -> SimulatedDriver:
    from drivers.simulated.driver import SimulatedDriver  # noqa: PLC0415 - when it runs

    return SimulatedDriver(config, ctx)
