"""``driver = "iio"``: any sensor with a kernel IIO driver (BME280, HTU21, DHT22, BH1750,
ADS1015, SCD4x...), read from sysfs.

Light: the config model and the ``scan iio`` command. The driver (:mod:`drivers.iio.driver`)
is imported when a device runs (or a scan reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.iio.config import IioConfig
from drivers.iio.scan import SCAN

if TYPE_CHECKING:
    from gateway.sdk import DeviceContext, Driver

__all__ = ["CONFIG", "SCAN", "IioConfig", "create"]

CONFIG = IioConfig


def create(config: IioConfig, ctx: DeviceContext) -> Driver[IioConfig]:
    from drivers.iio.driver import IioDriver  # noqa: PLC0415 - only when it runs

    return IioDriver(config, ctx)
