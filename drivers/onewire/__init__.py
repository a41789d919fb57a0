"""``driver = "onewire"``: 1-Wire thermometers (DS18B20 and kin) through the kernel's w1_therm.

Light: the config model and the ``scan onewire`` command. The driver
(:mod:`drivers.onewire.driver`) is imported when a device runs (or a scan reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.onewire.config import OneWireConfig
from drivers.onewire.scan import SCAN

if TYPE_CHECKING:
    from gateway.sdk import DeviceContext, Driver

__all__ = ["CONFIG", "SCAN", "OneWireConfig", "create"]

CONFIG = OneWireConfig


def create(config: OneWireConfig, ctx: DeviceContext) -> Driver[OneWireConfig]:
    from drivers.onewire.driver import OneWireDriver  # noqa: PLC0415 - only when it runs

    return OneWireDriver(config, ctx)
