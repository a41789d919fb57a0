"""The ``system`` device's options."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from drivers._sysfs import absolute_path
from drivers.system.sources import SENSORS
from gateway.sdk import DeviceConfig

__all__ = ["SystemConfig"]

INTERVAL_DEFAULT = 60.0
READ_TIMEOUT_DEFAULT = 5.0


class SystemConfig(DeviceConfig):
    """The host: every sensor of :data:`~drivers.system.sources.SENSORS` it has, or ``sensors``."""

    driver: Literal["system"] = "system"
    root: str = "/sys"
    proc: str = "/proc"
    disk_path: str = "/"
    sensors: list[str] | None = Field(None, min_length=1)
    interval: float = Field(INTERVAL_DEFAULT, gt=0)
    read_timeout: float = Field(READ_TIMEOUT_DEFAULT, gt=0)

    @field_validator("root", "proc", "disk_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return absolute_path(value)

    @model_validator(mode="after")
    def _known_sensors(self) -> Self:
        names = self.sensors or []
        for name in names:
            if name not in SENSORS:
                raise ValueError(f"sensors: unknown sensor {name!r}; known: {', '.join(SENSORS)}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sensors: {dupes[0]!r} is listed twice")
        return self

    def sensor_names(self) -> list[str] | None:
        return None if self.sensors is None else list(self.sensors)
