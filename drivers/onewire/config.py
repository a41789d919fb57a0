"""The ``onewire`` device's options."""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from drivers._sysfs import absolute_path
from gateway.sdk import DeviceConfig, DeviceModel, SensorSpec

__all__ = ["ADDRESS", "FAMILIES", "UNIT", "OneWireConfig"]

# w1_therm's families (drivers/w1/slaves/w1_therm.c) and the chips behind them.
FAMILIES: dict[str, str] = {"10": "DS18S20", "22": "DS1822", "28": "DS18B20",
                            "3b": "DS1825/MAX31850", "42": "DS28EA00"}
ADDRESS = re.compile(r"^(10|22|28|3b|42)-[0-9a-f]{12}$")
MAKER = "Maxim Integrated"
UNIT = "°C"
INTERVAL_DEFAULT = 30.0
READ_TIMEOUT_DEFAULT = 10.0  # one probe: a 750 ms conversion, the kernel's retries, a busy bus


class OneWireConfig(DeviceConfig):
    """Every w1_therm thermometer under ``<root>/bus/w1/devices`` (or those ``sensors`` names)."""

    driver: Literal["onewire"] = "onewire"
    root: str = Field("/sys", description="Where sysfs is mounted (a container may mount the "
                      "host's elsewhere).")
    interval: float | None = Field(INTERVAL_DEFAULT, gt=0,
                                   description="Seconds between two reads of every probe.")
    sensors: dict[str, str] | None = Field(
        None, description='Probe address -> sensor name, e.g. { "28-0316a2790fff" = "boiler" }; '
        "without it every thermometer present is a sensor named by its address.")
    read_timeout: float = Field(READ_TIMEOUT_DEFAULT, gt=0, description="Seconds one probe's "
                                "read may take (a conversion takes ~750 ms) before it counts "
                                "as a timeout.")

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("sensors", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:  # noqa: ANN401 - raw TOML
        if not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("must not be empty (leave it out to read every thermometer present)")
        table = {str(k).strip().lower(): v for k, v in value.items()}
        for address in table:
            if not ADDRESS.match(address):
                raise ValueError(
                    f"{address!r} is not a 1-Wire thermometer address: family-serial like "
                    f'"28-0316a2790fff", family one of {", ".join(FAMILIES)}')
        return table

    @model_validator(mode="after")
    def _names(self) -> Self:
        names = list((self.sensors or {}).values())
        if any(not name.strip() for name in names):
            raise ValueError("sensors: a sensor name must not be empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sensors: two probes named {dupes[0]!r}")
        return self

    def sensor_specs(self) -> list[SensorSpec] | None:
        """The named probes; without ``sensors``, those found at run time (by address)."""
        if self.sensors is None:
            return None
        return [SensorSpec(name, "temperature", UNIT) for name in self.sensors.values()]

    def device_model(self) -> DeviceModel:
        families = {address.split("-")[0] for address in self.sensors or {}}
        if len(families) == 1:
            chip = FAMILIES[families.pop()]
            return DeviceModel(MAKER, f"{chip} 1-Wire thermometer"
                               + ("s" if len(self.sensors or {}) > 1 else ""))
        return DeviceModel(MAKER, "1-Wire thermometers (w1_therm)")
