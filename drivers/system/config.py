"""The ``system`` device's options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from drivers._sysfs import absolute_path
from drivers.system.sources import SENSORS
from gateway.sdk import DeviceConfig, DeviceModel, SensorSpec

__all__ = ["SystemConfig"]

INTERVAL_DEFAULT = 60.0
READ_TIMEOUT_DEFAULT = 5.0


class SystemConfig(DeviceConfig):
    """The host: every sensor of :data:`~drivers.system.sources.SENSORS` it has, or ``sensors``."""

    driver: Literal["system"] = "system"
    root: str = Field("/sys", description="Where sysfs is mounted (a container may mount the "
                      "host's elsewhere).")
    proc: str = Field("/proc", description="Where procfs is mounted.")
    disk_path: str = Field("/", description="The file system whose used space `disk_used` "
                           "reports.")
    sensors: list[str] | None = Field(None, min_length=1, description="Publish only these "
                                      "(cpu_temperature, load_1min, memory_used, disk_used, "
                                      "uptime, the throttling flags...); default: every one "
                                      "this machine has.")
    interval: float | None = Field(INTERVAL_DEFAULT, gt=0,
                                   description="Seconds between two reads.")
    read_timeout: float = Field(READ_TIMEOUT_DEFAULT, gt=0, description="Seconds one cycle's "
                                "reads may take before they count as a timeout.")

    @field_validator("root", "proc", "disk_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("sensors")
    @classmethod
    def _known_sensors(cls, names: list[str] | None) -> list[str] | None:
        for name in names or []:
            if name not in SENSORS:
                raise ValueError(f"unknown sensor {name!r}; known: {', '.join(SENSORS)}")
        dupes = sorted({n for n in names or [] if (names or []).count(n) > 1})
        if dupes:
            raise ValueError(f"{dupes[0]!r} is listed twice")
        return names

    def sensor_specs(self) -> list[SensorSpec] | None:
        """The chosen sensors; without ``sensors``, the ones this machine has, found at run
        time (each sensor's name is its kind)."""
        if self.sensors is None:
            return None
        return [SensorSpec(name, name, SENSORS[name]) for name in self.sensors]

    def device_model(self) -> DeviceModel:
        return DeviceModel(None, "gateway host")  # the driver describes a Pi's model at run time
