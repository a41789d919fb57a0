"""``driver = "system"``: the gateway host's own health (SoC temperature, load, memory, disk,
uptime and, on a Raspberry Pi, the firmware's under-voltage and throttling flags).

Light: the config model and the ``scan system`` command. The driver
(:mod:`drivers.system.driver`) is imported when a device runs (or a scan reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.system.config import SystemConfig
from drivers.system.scan import SCAN

if TYPE_CHECKING:
    from gateway.sdk import DeviceContext, Driver

__all__ = ["CONFIG", "SCAN", "SystemConfig", "create"]

CONFIG = SystemConfig


def create(config: SystemConfig, ctx: DeviceContext) -> Driver[SystemConfig]:
    from drivers.system.driver import SystemDriver  # noqa: PLC0415 - only when it runs

    return SystemDriver(config, ctx)
