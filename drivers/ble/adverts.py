"""BLE sensors: advertisement sensors (BTHome, Ruuvi, ATC/pvvx) and GATT sensors.

Advertisement mode: one scanner per adapter for the whole daemon (:mod:`drivers.ble.source`)
dispatches adverts by address to the devices; each decodes its own and hands every advert's
values to the core, whose report-by-exception (defaults here: ``deadband = 0``,
``heartbeat = 300``) publishes changes and a periodic repeat; offline after ``timeout`` seconds
without an advert. ``adapter = "simulated"`` replaces the radio with simulated devices
sending real advert bytes (:mod:`drivers.ble.simulator`). GATT mode: :mod:`drivers.ble.gatt`.

bleak, dbus-fast and bleak-retry-connector are imported only when a BLE device runs.
"""

from __future__ import annotations

import asyncio

from drivers.ble.config import BleConfig
from drivers.ble.decoders import Advert, decode
from drivers.ble.shared import check_scanner, open_source, register_simulated
from gateway.sdk import DecodeError, DeviceContext, DeviceModel, Driver, Measurement

__all__ = ["AdvertDriver"]

class AdvertDriver(Driver[BleConfig]):
    """Decodes this device's adverts and hands each one's values to the core, which keeps the
    device online and applies report-by-exception and the ``interval`` cap."""

    def __init__(self, config: BleConfig, ctx: DeviceContext) -> None:
        super().__init__(config, ctx)
        self._bindkey = config.bindkey_bytes()
        self._last_raw: object = None
        self._decoded: tuple[Measurement, ...] = ()

    async def run(self) -> None:
        async with open_source(self.ctx, self.config) as source:
            if self.config.simulated:
                register_simulated(source, self.config)
            else:
                check_scanner(source, self.config, self.ctx)
            with source.subscribe(self.config.address, self):
                await asyncio.Event().wait()  # adverts arrive through on_advert

    # --- Subscriber ------------------------------------------------------------------------

    def on_down(self, reason: str) -> None:
        self.ctx.offline(reason)

    def on_advert(self, advert: Advert) -> None:
        raw = (tuple(advert.service_data.items()), tuple(advert.manufacturer_data.items()))
        if raw != self._last_raw:  # an identical advert is not decoded again
            try:
                decoded = decode(advert, self.config.decoder, self._bindkey)
            except DecodeError as exc:
                if exc.kind != "unsupported":  # other advert types of the device: not an error
                    self.ctx.count_error(exc.kind, str(exc))
                return
            self._last_raw = raw
            self._decoded = decoded.measurements
            if decoded.model:  # Home Assistant shows who made it and what it is
                self.ctx.describe(DeviceModel(decoded.manufacturer, decoded.model))
        if self._decoded:
            self.ctx.emit(self._decoded)
