"""The ``iio`` device's options."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from drivers._sysfs import absolute_path
from gateway.sdk import DeviceConfig

__all__ = ["IioConfig"]

INTERVAL_DEFAULT = 10.0
READ_TIMEOUT_DEFAULT = 5.0  # one cycle's reads of the device (an SCD4x waits up to ~6 s...)


class IioConfig(DeviceConfig):
    """One IIO device, chosen by its ``name`` file (plus ``index`` when several share it)."""

    driver: Literal["iio"] = "iio"
    root: str = "/sys"
    name: str = Field(min_length=1)
    index: int | None = Field(None, ge=0)
    channels: list[str] | None = Field(None, min_length=1)
    interval: float = Field(INTERVAL_DEFAULT, gt=0)
    read_timeout: float = Field(READ_TIMEOUT_DEFAULT, gt=0)

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if "/" in value or value != value.strip():
            raise ValueError('must be the chip\'s IIO name, like "bme280"')
        return value

    @model_validator(mode="after")
    def _unique_channels(self) -> Self:
        names = self.channels or []
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channels: {dupes[0]!r} is listed twice")
        if any(not n.strip() for n in names):
            raise ValueError("channels: a channel name must not be empty")
        return self

    def sensor_names(self) -> list[str] | None:
        return None if self.channels is None else list(self.channels)
