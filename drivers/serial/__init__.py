"""``driver = "serial"``: line protocols, particulate/CO2/GPS sensors and Modbus RTU on a UART.

A driver kind package: ``CONFIG``, ``create`` and the ``scan serial`` / ``simulate serial``
commands. pyserial-asyncio-fast and pymodbus are imported only when a serial device runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.serial.config import SerialConfig
from drivers.serial.scan import SCAN
from drivers.serial.simulate import SIMULATE

if TYPE_CHECKING:
    from drivers.serial.driver import SerialDriver
    from gateway.sdk import DeviceContext

__all__ = ["CONFIG", "SCAN", "SIMULATE", "create"]

CONFIG = SerialConfig


def create(config: SerialConfig, ctx: DeviceContext) -> SerialDriver:
    from drivers.serial.driver import SerialDriver  # noqa: PLC0415 - when it runs

    return SerialDriver(config, ctx)
