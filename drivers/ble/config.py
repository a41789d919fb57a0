"""The BLE driver's config: advertisement and GATT modes, decoders, bindkeys, simulation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from drivers.ble.bindkey import KEY_SOURCES, read_bindkey
from drivers.ble.characteristics import check_format, normalize_uuid
from drivers.ble.decoders import DECODERS, RUUVI_MAKER, AdvertFormat
from drivers.ble.source import ScannerOptions
from gateway.sdk import DeviceConfig, DeviceModel, SensorSpec

__all__ = ["SIMULATED", "BleConfig", "CharacteristicConfig", "SimulateConfig"]

SIMULATED = "simulated"
# What a BLE device's driver imports when it runs (BleConfig.stack_modules).
_BLUEZ = ("bleak", "bleak.exc", "bleak.args.bluez", "bleak.assigned_numbers",
          "bleak.backends.bluezdbus.manager", "bleak.backends.bluezdbus.scanner",
          "bleak.backends.bluezdbus.client", "dbus_fast", "dbus_fast.aio", "xml.etree.ElementTree")
_CRYPTO = ("cryptography.hazmat.primitives.ciphers.aead", "cryptography.exceptions")
TIMEOUT_DEFAULT = 300.0  # seconds without an advert (or a GATT reading) before offline
HEARTBEAT_DEFAULT = 300.0
ADAPTER_SILENCE_DEFAULT = 300.0  # nobody heard on an adapter for this long: restart its scan
GATT_INTERVAL_DEFAULT = 60.0
_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_ADAPTER = re.compile(r"^hci[0-9]+$")

# Options that only mean something in one mode (or with the simulated adapter).
_ADVERT_ONLY = ("decoder", *KEY_SOURCES, "simulate", "scanning", "adapter_silence")
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
        return normalize_uuid(value)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        check_format(value)
        return value


class SimulateConfig(_Strict):
    """What a simulated device sends (only with ``adapter = "simulated"``).

    ``format`` defaults to what the device's ``decoder`` reads (``auto``: BTHome)."""

    format: AdvertFormat | None = None
    every: float = Field(2.0, gt=0)
    name: str | None = None


_DECODER_MODELS = {
    "bthome": DeviceModel(None, "BTHome v2"),
    "ruuvi": DeviceModel(RUUVI_MAKER, "RuuviTag RAWv2"),
    "atc": DeviceModel(None, "ATC/pvvx thermometer"),
}


class BleConfig(DeviceConfig):
    legacy_silence_keys: ClassVar[tuple[str, ...]] = ("timeout", "stall_timeout")

    driver: Literal["ble"] = "ble"
    address: str
    adapter: str = "hci0"
    mode: Literal["advertisement", "gatt"] = "advertisement"
    # advertisement mode
    decoder: str = "auto"
    bindkey: SecretStr | None = None
    bindkey_file: Path | None = None
    bindkey_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scanning: Literal["active", "passive"] = "active"
    adapter_silence: float | None = Field(None, gt=0)
    simulate: SimulateConfig | None = None
    # GATT mode
    notify: bool = False
    characteristics: list[CharacteristicConfig] = Field(default_factory=list)
    standard: bool = True
    connect_timeout: float = Field(20.0, gt=0)
    _key: bytes | None = PrivateAttr(None)  # read from bindkey, bindkey_file or bindkey_env

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

    @model_validator(mode="after")
    def _mode_options(self) -> Self:
        misplaced = _ADVERT_ONLY if self.mode == "gatt" else _GATT_ONLY
        for key in misplaced:
            if key in self.model_fields_set:
                other = "advertisement" if self.mode == "gatt" else "gatt"
                raise ValueError(f"{key}: only used with mode = {other!r}")
        self._key = read_bindkey(self.bindkey, self.bindkey_file, self.bindkey_env)
        if self.adapter == SIMULATED and self.mode == "gatt":
            raise ValueError(f'adapter: "{SIMULATED}" simulates advertisements only, '
                             'not mode = "gatt"')
        if self.simulate is not None and self.adapter != SIMULATED:
            raise ValueError(f'simulate: only used with adapter = "{SIMULATED}"')
        fmt = self.simulate.format if self.simulate is not None else None
        if fmt is not None and self.decoder not in ("auto", _DECODER_OF[fmt]):
            raise ValueError(f"simulate: format {fmt!r} is not read by decoder {self.decoder!r}")
        return self._check_key()

    def _check_key(self) -> Self:
        source = next((k for k in KEY_SOURCES if getattr(self, k) is not None), "bindkey")
        if self._key is not None and self.decoder not in _KEYED_DECODERS:
            raise ValueError(f"{source}: only used with decoder = 'bthome', 'xiaomi' "
                             "(or 'auto')")
        if self._key is not None and len(self._key) == 12 and self.decoder == "bthome":
            raise ValueError(f"{source}: a 24-hex-digit key is for Xiaomi MiBeacon v2/v3 "
                             "devices; BTHome keys have 32")
        return self

    @property
    def simulated(self) -> bool:
        return self.adapter == SIMULATED

    def poll_interval(self) -> float:
        return self.interval or GATT_INTERVAL_DEFAULT

    def read_every(self) -> float | None:
        return self.poll_interval() if self.mode == "gatt" and not self.notify else None

    def offline_after(self) -> float:
        if self.silence_timeout is not None:
            return self.silence_timeout
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

    def sensor_specs(self) -> list[SensorSpec] | None:
        if self.mode == "gatt" and self.characteristics and not self.standard:
            return [SensorSpec(c.name, c.name, c.unit) for c in self.characteristics]
        return None

    def device_model(self) -> DeviceModel:
        """From the configured decoder until the first decoded advert says (``ctx.describe``)."""
        if self.mode == "gatt":
            return DeviceModel(None, "BLE GATT sensor")
        generic = "BLE sensor" if self.decoder == "auto" else f"BLE sensor ({self.decoder})"
        return _DECODER_MODELS.get(self.decoder, DeviceModel(None, generic))

    def stack_modules(self) -> tuple[str, ...]:
        """bleak and dbus-fast (and xml.etree, which dbus-fast parses BlueZ's introspection
        with), cryptography for an encrypted BTHome device, bleak-retry-connector for GATT."""
        driver = "drivers.ble.gatt" if self.mode == "gatt" else "drivers.ble.adverts"
        crypto = _CRYPTO if self.bindkey_bytes() is not None else ()
        if self.simulated:
            return (driver, "drivers.ble.simulator", *crypto)
        if self.mode == "gatt":
            return (driver, "drivers.ble.source", *_BLUEZ, "bleak_retry_connector")
        return (driver, "drivers.ble.source", *_BLUEZ, *crypto)

    def bindkey_bytes(self) -> bytes | None:
        """The device's key, from whichever of ``bindkey``, ``bindkey_file``, ``bindkey_env``
        is set (read when the config was loaded)."""
        return self._key

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
