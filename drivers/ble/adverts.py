"""BLE sensors: advertisement sensors (BTHome, Ruuvi, ATC/pvvx, Xiaomi, Qingping, SwitchBot,
Govee, Inkbird, ThermoBeacon, SensorPush, BlueMaestro, Aranet) and GATT sensors.

Advertisement mode: one scanner per adapter for the whole daemon (:mod:`drivers.ble.source`)
dispatches adverts by address to the devices; each decodes its own and hands every advert's
values to the core (and, once, the manufacturer and model its decoder recognised: Home
Assistant discovery carries them), whose report-by-exception (defaults here: ``deadband = 0``,
``heartbeat = 300``) publishes changes and a periodic repeat; offline after ``timeout`` seconds
without an advert. ``adapter = "simulated"`` replaces the radio with simulated devices
sending real advert bytes (:mod:`drivers.ble.simulator`). GATT mode: :mod:`drivers.ble.gatt`.

bleak, dbus-fast and bleak-retry-connector are imported only when a BLE device runs.
"""

from __future__ import annotations

import asyncio

from drivers.ble.config import BleConfig
from drivers.ble.decoders import Advert, Identity, decode, identify
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
        self._identity: Identity | None = None

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
        if self.ctx.shedding:  # overload: dropped before decoding; the tag is still there
            self.ctx.skipped(1)
            self.ctx.alive()
            return
        raw = (advert.name, advert.service_uuids, tuple(advert.service_data.items()),
               tuple(advert.manufacturer_data.items()))
        if raw != self._last_raw:  # an identical advert is not decoded again
            self._last_raw = raw
            self._decoded = self._decode(advert)
        if self._decoded:
            self.ctx.emit(self._decoded)

    def _decode(self, advert: Advert) -> tuple[Measurement, ...]:
        """The advert's measurements; a bad one is counted (once: its repeats are not
        decoded again) and gives none."""
        try:
            decoded = decode(advert, self.config.decoder, self._bindkey)
        except DecodeError as exc:
            # An encrypted advert without (the right) key still names its model.
            self._describe(identify(advert, self.config.decoder))
            if exc.kind != "unsupported":  # other advert types of the device: not an error
                self.ctx.count_error(exc.kind, str(exc))
            return ()
        self._describe(decoded.identity)
        return decoded.measurements

    def _describe(self, identity: Identity | None) -> None:
        """Tell the core who made the device and what it is, when that is news."""
        if identity is not None and identity != self._identity:
            self._identity = identity
            self.ctx.describe(DeviceModel(identity.manufacturer, identity.model))
