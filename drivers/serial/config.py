"""The serial driver's config: port settings, protocol and its options, Modbus registers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.serial.protocols import (
    FieldOptions,
    RegexLineDecoder,
)
from drivers.serial.protocols._modbus import RegisterSpec
from gateway.sdk import STALL_FLOOR, DeviceConfig, DeviceModel, SensorSpec

__all__ = ["RegisterConfig", "SerialConfig"]

Protocol = Literal["json", "csv", "kv", "regex", "pms5003", "sds011", "mhz19", "nmea", "modbus"]
LINE_PROTOCOLS = frozenset({"json", "csv", "kv", "regex"})
POLLED = frozenset({"mhz19", "modbus"})
STREAM_STALE_DEFAULT = 30.0  # seconds of silence before a streaming device is offline/reopened

_PARTICLES = ("0_3", "0_5", "1_0", "2_5", "5_0", "10")
# What the fixed-format protocols publish: sensor name -> unit.
KNOWN_SENSORS: dict[str, dict[str, str | None]] = {
    "pms5003": {"pm1_0": "µg/m³", "pm2_5": "µg/m³", "pm10": "µg/m³",
                **{f"particles_{size}um": "/0.1L" for size in _PARTICLES}},
    "sds011": {"pm2_5": "µg/m³", "pm10": "µg/m³"},
    "mhz19": {"co2": "ppm", "temperature": "°C"},
    "nmea": {"fix_quality": None, "satellites": None, "latitude": "°", "longitude": "°",
             "altitude": "m", "speed": "km/h"},
}
MODELS: dict[str, DeviceModel] = {
    "pms5003": DeviceModel("Plantower", "PMS5003"),
    "sds011": DeviceModel("Nova Fitness", "SDS011"),
    "mhz19": DeviceModel("Winsen", "MH-Z19"),
    "nmea": DeviceModel(None, "NMEA 0183 GPS receiver"),
}

# Options that only mean something for some protocols: a misplaced one is an error.
_PROTOCOL_OPTIONS: dict[str, frozenset[str]] = {
    "units": LINE_PROTOCOLS, "scale": LINE_PROTOCOLS, "offset": LINE_PROTOCOLS,
    "rename": LINE_PROTOCOLS, "include": LINE_PROTOCOLS, "exclude": LINE_PROTOCOLS,
    "fields": frozenset({"csv"}), "delimiter": frozenset({"csv"}),
    "pair_separator": frozenset({"kv"}), "kv_separator": frozenset({"kv"}),
    "pattern": frozenset({"regex"}), "unit": frozenset({"modbus"}),
    "registers": frozenset({"modbus"}),
}

log = logging.getLogger(__name__)


class RegisterConfig(BaseModel):
    """One Modbus value, e.g. ``{ name = "voltage", address = 0, type = "float32" }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    address: int = Field(ge=0, le=0xFFFF)
    function: Literal["holding", "input"] = "holding"
    type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "uint16"
    word_order: Literal["big", "little"] = "big"
    byte_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    def spec(self) -> RegisterSpec:
        return RegisterSpec(self.name, self.address, self.function, self.type, self.word_order,
                            self.byte_order, self.scale, self.offset, self.unit)


def _keyed(key: str, check: Callable[[], object]) -> None:
    """Run ``check``; its ValueError becomes one that names ``key``."""
    try:
        check()
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _parity_words(schema: dict[str, Any]) -> None:
    """JSON Schema: parity may be given as a word."""
    parity = schema["properties"]["parity"]
    parity["enum"] = [*parity["enum"], "none", "even", "odd", "mark", "space"]


class SerialConfig(DeviceConfig):
    model_config = ConfigDict(json_schema_extra=_parity_words)
    legacy_silence_keys: ClassVar[tuple[str, ...]] = ("stale_timeout", "stall_timeout")

    driver: Literal["serial"] = "serial"
    port: str = Field(min_length=1)
    baudrate: int = Field(9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1
    read_timeout: float = Field(1.0, gt=0)
    protocol: Protocol
    max_line_length: int = Field(512, ge=16, le=65536)
    # line protocols
    units: dict[str, str] = Field(default_factory=dict)
    scale: dict[str, float] = Field(default_factory=dict)
    offset: dict[str, float] = Field(default_factory=dict)
    rename: dict[str, str] = Field(default_factory=dict)
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    fields: list[str] | None = None
    delimiter: str = Field(",", min_length=1)
    pair_separator: str | None = None
    kv_separator: str = Field("=", min_length=1)
    pattern: str | None = None
    # modbus
    unit: int | None = Field(None, ge=0, le=247)
    registers: list[RegisterConfig] = Field(default_factory=list)

    @field_validator("parity", mode="before")
    @classmethod
    def _parity_words(cls, value: Any) -> Any:  # noqa: ANN401 - raw TOML
        words = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
        return words.get(value.lower(), value) if isinstance(value, str) else value

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("must be 1, 1.5 or 2")
        return value

    @model_validator(mode="after")
    def _protocol_options(self) -> Self:
        for key, protocols in _PROTOCOL_OPTIONS.items():
            if key in self.model_fields_set and self.protocol not in protocols:
                allowed = ", ".join(sorted(protocols))
                raise ValueError(f"{key}: only used with protocol = {allowed}")
        self._check_required()
        return self

    def _check_required(self) -> None:
        if self.protocol == "regex":
            if self.pattern is None:
                raise ValueError("pattern: required with protocol = 'regex'")
            _keyed("pattern", lambda: RegexLineDecoder(self.pattern or ""))
        if self.protocol == "modbus":
            for key in ("unit", "registers"):
                if not getattr(self, key) and getattr(self, key) != 0:
                    raise ValueError(f"{key}: required with protocol = 'modbus'")
        names = [r.name for r in self.registers]
        if len(set(names)) != len(names):
            raise ValueError("registers: names must be unique")
        _keyed("scale", self.field_options)

    @property
    def polled(self) -> bool:
        return self.protocol in POLLED

    def read_every(self) -> float | None:
        return self.poll_interval() if self.polled else None

    def publish_interval(self) -> float | None:
        return None if self.polled else self.interval

    def offline_after(self) -> float:
        if self.silence_timeout is not None:
            return self.silence_timeout
        if self.polled:
            return max(3 * self.poll_interval(), STALL_FLOOR)
        return 3 * self.interval if self.interval else STREAM_STALE_DEFAULT

    def stall_after(self) -> float:
        """Silent for the staleness timeout: offline, and the port is reopened."""
        return self.offline_after()

    def sensor_specs(self) -> list[SensorSpec] | None:
        if self.protocol == "modbus":
            return [SensorSpec(r.name, r.name, r.unit) for r in self.registers]
        if self.protocol == "csv" and self.fields:
            wanted = [f for f in self.fields if self.field_options().wants(f)]
            return [SensorSpec(self.rename.get(f, f), self.rename.get(f, f), self.units.get(f))
                    for f in wanted]
        known = KNOWN_SENSORS.get(self.protocol)
        return None if known is None else [SensorSpec(n, n, u) for n, u in known.items()]

    def stack_modules(self) -> tuple[str, ...]:
        """pyserial-asyncio-fast, and pymodbus for Modbus."""
        stack = ("drivers.serial.driver", "serial", "serial_asyncio_fast")
        if self.protocol == "modbus":
            return (*stack, "pymodbus", "pymodbus.client", "pymodbus.exceptions")
        return stack

    def device_model(self) -> DeviceModel:
        if self.protocol == "modbus":
            return DeviceModel(None, f"Modbus RTU unit {self.unit}")
        return MODELS.get(self.protocol, DeviceModel(None, f"serial ({self.protocol} lines)"))

    def field_options(self) -> FieldOptions:
        return FieldOptions(units=self.units, scale=self.scale, offset=self.offset,
                            rename=self.rename, include=self.include, exclude=self.exclude)
