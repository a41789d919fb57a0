"""BLE sensors: advertisement sensors (BTHome, Ruuvi, ATC/pvvx) and GATT sensors.

Advertisement mode: one scanner per adapter for the whole daemon (:mod:`drivers.ble_source`)
dispatches adverts by address to the devices; each decodes its own and hands every advert's
values to the core, whose report-by-exception (defaults here: ``deadband = 0``,
``heartbeat = 300``) publishes changes and a periodic repeat; offline after ``timeout`` seconds
without an advert. ``adapter = "simulated"`` replaces the radio with simulated devices
sending real advert bytes (:mod:`drivers.ble_sim`). GATT mode: :mod:`drivers.ble_gatt`.

bleak, dbus-fast and bleak-retry-connector are imported only when a BLE device runs.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from drivers.ble_decoders import DECODERS, Advert, AdvertFormat, decode, parse_mibeacon_key
from drivers.ble_source import AdapterScanner, AdvertSource, ScannerOptions
from gateway.sdk import DecodeError, DeviceConfig, DeviceContext, Driver, Measurement

__all__ = ["CONFIG", "BleConfig", "create"]

SIMULATED = "simulated"
TIMEOUT_DEFAULT = 300.0  # seconds without an advert (or a GATT reading) before offline
HEARTBEAT_DEFAULT = 300.0
ADAPTER_SILENCE_DEFAULT = 300.0  # nobody heard on an adapter for this long: restart its scan
GATT_INTERVAL_DEFAULT = 60.0
_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_ADAPTER = re.compile(r"^hci[0-9]+$")

# Options that only mean something in one mode (or with the simulated adapter).
_ADVERT_ONLY = ("decoder", "bindkey", "simulate", "scanning", "adapter_silence")
_GATT_ONLY = ("notify", "characteristics", "standard", "connect_timeout")


_DECODER_OF: dict[str, str] = {"bthome": "bthome", "ruuvi": "ruuvi", "atc1441": "atc",
                               "pvvx": "atc", "xiaomi": "xiaomi", "qingping": "qingping",
                               "govee": "govee"}
_KEYED_DECODERS = ("auto", "bthome", "xiaomi")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CharacteristicConfig(_Strict):
    """A custom GATT characteristic, e.g. ``{ uuid = "...", name = "co2", format = "<H" }``.

    ``format`` is a Python ``struct`` format producing one number; the value published is
    ``raw * scale + offset``.
    """

    uuid: str
    name: str = Field(min_length=1)
    format: str = "<h"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    @field_validator("uuid")
    @classmethod
    def _uuid(cls, value: str) -> str:
        from drivers.ble_gatt import normalize_uuid  # noqa: PLC0415 - no bleak import there

        return normalize_uuid(value)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        from drivers.ble_gatt import check_format  # noqa: PLC0415

        check_format(value)
        return value


class SimulateConfig(_Strict):
    """What a simulated device sends (only with ``adapter = "simulated"``).

    ``format`` defaults to what the device's ``decoder`` reads (``auto``: BTHome)."""

    format: AdvertFormat | None = None
    every: float = Field(2.0, gt=0)
    name: str | None = None


class BleConfig(DeviceConfig):
    driver: Literal["ble"] = "ble"
    address: str
    adapter: str = "hci0"
    mode: Literal["advertisement", "gatt"] = "advertisement"
    interval: float | None = Field(None, gt=0)  # type: ignore[assignment]
    timeout: float | None = Field(None, gt=0)
    # advertisement mode
    decoder: str = "auto"
    bindkey: SecretStr | None = None
    scanning: Literal["active", "passive"] = "active"
    adapter_silence: float | None = Field(None, gt=0)
    simulate: SimulateConfig | None = None
    # GATT mode
    notify: bool = False
    characteristics: list[CharacteristicConfig] = Field(default_factory=list)
    standard: bool = True
    connect_timeout: float = Field(20.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:  # noqa: ANN401 - raw TOML
        """GATT devices poll every 60 s; advertisement devices report by exception (every
        change, an unchanged value every 300 s) unless the config says otherwise."""
        if not isinstance(data, dict):
            return data
        if data.get("mode") == "gatt":
            return {"interval": GATT_INTERVAL_DEFAULT, **data}
        return {"deadband": 0, "heartbeat": HEARTBEAT_DEFAULT, **data}

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:  # noqa: ANN401 - raw TOML
        if not isinstance(value, str):
            return value
        address = value.strip().upper().replace("-", ":")
        if not _MAC.match(address):
            raise ValueError("must be a MAC address like AA:BB:CC:DD:EE:FF")
        return address

    @field_validator("adapter")
    @classmethod
    def _adapter(cls, value: str) -> str:
        if value != SIMULATED and not _ADAPTER.match(value):
            raise ValueError(f'must be an adapter name like "hci0", or "{SIMULATED}"')
        return value

    @field_validator("decoder")
    @classmethod
    def _decoder(cls, value: str) -> str:
        if value != "auto" and value not in DECODERS:
            raise ValueError(f"unknown decoder {value!r}; known: auto, {', '.join(DECODERS)}")
        return value

    @field_validator("bindkey")
    @classmethod
    def _bindkey(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_mibeacon_key(value.get_secret_value())
            except ValueError:
                raise ValueError("must be 32 hex digits (16 bytes), or 24 for a Xiaomi "
                                 "MiBeacon v2/v3 device") from None
        return value

    @model_validator(mode="after")
    def _mode_options(self) -> Self:
        misplaced = _ADVERT_ONLY if self.mode == "gatt" else _GATT_ONLY
        for key in misplaced:
            if key in self.model_fields_set:
                other = "advertisement" if self.mode == "gatt" else "gatt"
                raise ValueError(f"{key}: only used with mode = {other!r}")
        if self.adapter == SIMULATED and self.mode == "gatt":
            raise ValueError(f'adapter: "{SIMULATED}" simulates advertisements only, '
                             'not mode = "gatt"')
        if self.simulate is not None and self.adapter != SIMULATED:
            raise ValueError(f'simulate: only used with adapter = "{SIMULATED}"')
        fmt = self.simulate.format if self.simulate is not None else None
        if fmt is not None and self.decoder not in ("auto", _DECODER_OF[fmt]):
            raise ValueError(f"simulate: format {fmt!r} is not read by decoder {self.decoder!r}")
        if self.bindkey is not None and self.decoder not in _KEYED_DECODERS:
            raise ValueError("bindkey: only used with decoder = 'bthome', 'xiaomi' (or 'auto')")
        secret = self.bindkey_bytes()
        if secret is not None and len(secret) == 12 and self.decoder == "bthome":
            raise ValueError("bindkey: a 24-hex-digit key is for Xiaomi MiBeacon v2/v3 "
                             "devices; BTHome keys have 32")
        return self

    @property
    def simulated(self) -> bool:
        return self.adapter == SIMULATED

    def poll_interval(self) -> float:
        return self.interval or GATT_INTERVAL_DEFAULT

    def offline_after(self) -> float:
        if self.timeout is not None:
            return self.timeout
        if self.mode == "gatt" and not self.notify:
            return max(TIMEOUT_DEFAULT, 3 * self.poll_interval())
        return TIMEOUT_DEFAULT

    def stall_after(self) -> float | None:
        """Advertisement devices are never restarted for silence (the scanner's watchdog
        handles a wedged adapter); a silent GATT connection is reconnected."""
        return self.offline_after() if self.mode == "gatt" else None

    def publish_interval(self) -> float | None:
        """Advertisement mode: the cap. A change held back is published with a later advert
        (the core compares with the last *published* value)."""
        return self.interval if self.mode == "advertisement" else None

    def sensor_names(self) -> list[str] | None:
        if self.mode == "gatt" and self.characteristics and not self.standard:
            return [c.name for c in self.characteristics]
        return None

    def bindkey_bytes(self) -> bytes | None:
        if self.bindkey is None:
            return None
        return parse_mibeacon_key(self.bindkey.get_secret_value())

    def simulation(self) -> tuple[AdvertFormat, SimulateConfig]:
        """The simulated device's advert format and settings."""
        sim = self.simulate or SimulateConfig()
        by_decoder: dict[str, AdvertFormat] = {"ruuvi": "ruuvi", "atc": "pvvx",
                                               "xiaomi": "xiaomi", "qingping": "qingping",
                                               "govee": "govee"}
        return sim.format or by_decoder.get(self.decoder, "bthome"), sim

    def scanner_options(self) -> ScannerOptions:
        silence = self.adapter_silence or max(ADAPTER_SILENCE_DEFAULT, self.offline_after())
        return ScannerOptions(passive=self.scanning == "passive", silence=silence)


# --- sources --------------------------------------------------------------------------------


def source_key(config: BleConfig) -> tuple[str, str]:
    return ("ble", config.adapter)


def open_source(ctx: DeviceContext, config: BleConfig) -> AbstractAsyncContextManager[AdvertSource]:
    """The shared source of ``config.adapter``: its scanner, or the simulated adverts."""
    if config.simulated:
        from drivers.ble_sim import SimulatedAdverts  # noqa: PLC0415

        return ctx.shared(source_key(config), SimulatedAdverts)
    options = config.scanner_options()
    return ctx.shared(source_key(config), lambda: AdapterScanner(config.adapter, options))


def _register_simulated(source: AdvertSource, config: BleConfig) -> None:
    from drivers.ble_sim import SimulatedAdverts, SimulatedDevice  # noqa: PLC0415

    assert isinstance(source, SimulatedAdverts)
    fmt, sim = config.simulation()
    source.add(SimulatedDevice(config.address, fmt, sim.every,
                               bindkey=config.bindkey_bytes(), name=sim.name))


def _check_scanner(source: AdvertSource, config: BleConfig, ctx: DeviceContext) -> None:
    """Warn when this device asks for scanner settings the adapter's scanner does not have."""
    assert isinstance(source, AdapterScanner)
    mine, theirs = config.scanner_options(), source.options
    explicit = config.model_fields_set
    if ("scanning" in explicit and mine.passive != theirs.passive) or (
            "adapter_silence" in explicit and mine.silence != theirs.silence):
        ctx.log.warning("%s already scans with scanning = %r and adapter_silence = %gs; this "
                        "device's settings are ignored", config.adapter,
                        "passive" if theirs.passive else "active", theirs.silence)


# --- advertisement mode ---------------------------------------------------------------------


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
                _register_simulated(source, self.config)
            else:
                _check_scanner(source, self.config, self.ctx)
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
        if self._decoded:
            self.ctx.emit(self._decoded)


CONFIG = BleConfig


def create(config: BleConfig, ctx: DeviceContext) -> Driver[BleConfig]:
    if config.mode == "gatt":
        from drivers.ble_gatt import GattDriver  # noqa: PLC0415

        return GattDriver(config, ctx)
    return AdvertDriver(config, ctx)
