"""``driver = "ble"``: BLE sensors, by their advertisements or over GATT.

A driver kind package: ``CONFIG``, ``create`` and the ``scan ble`` command. bleak and D-Bus are
imported only when a BLE device runs or a scan starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.ble.config import BleConfig
from drivers.ble.scan import SCAN

if TYPE_CHECKING:
    from gateway.sdk import DeviceContext, Driver

__all__ = ["CONFIG", "SCAN", "create"]

CONFIG = BleConfig


def create(config: BleConfig, ctx: DeviceContext) -> Driver[BleConfig]:
    if config.mode == "gatt":
        from drivers.ble.gatt import GattDriver  # noqa: PLC0415 - when it runs

        return GattDriver(config, ctx)
    from drivers.ble.adverts import AdvertDriver  # noqa: PLC0415

    return AdvertDriver(config, ctx)
