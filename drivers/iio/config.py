"""The ``iio`` device's options."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from drivers._sysfs import absolute_path
from drivers.iio.channels import spec_of
from gateway.sdk import DeviceConfig, DeviceModel, SensorSpec

__all__ = ["MAKERS", "IioConfig"]

# The makers of chips with a kernel IIO (or hwmon) driver, by the ``name`` the kernel gives the
# device.
MAKERS: dict[str, str] = {
    **dict.fromkeys(("bme280", "bmp280", "bme680", "bmp180", "bmp085", "bmp380", "bmp388",
                     "bmp390", "bmp580"), "Bosch Sensortec"),
    **dict.fromkeys(("scd30", "scd40", "scd41", "sgp30", "sgp40", "sps30", "shtc1", "sht3x",
                     "sht4x", "sht21"), "Sensirion"),
    **dict.fromkeys(("tsl2561", "tsl2563", "tsl2591", "tcs3472"), "ams"),
    **dict.fromkeys(("veml6070", "veml6075", "veml7700", "veml6030", "vcnl4000", "vcnl4040"),
                    "Vishay"),
    **dict.fromkeys(("ads1015", "ads1115", "hdc1080", "hdc2010", "opt3001", "tmp007", "tmp102"),
                    "Texas Instruments"),
    **dict.fromkeys(("aht10", "aht20", "dht11"), "Aosong"),
    **dict.fromkeys(("si7020", "si7021", "si1145"), "Silicon Labs"),
    **dict.fromkeys(("htu21", "ms5611", "ms5637"), "TE Connectivity"),
    **dict.fromkeys(("mlx90614", "mlx90632"), "Melexis"),
    **dict.fromkeys(("mcp3008", "mcp3021", "mcp9600"), "Microchip"),
    "bh1750": "ROHM", "ccs811": "ScioSense", "ltr390": "Lite-On", "adt7410": "Analog Devices",
    "ds1621": "Maxim Integrated",
}

INTERVAL_DEFAULT = 10.0
READ_TIMEOUT_DEFAULT = 5.0  # one cycle's reads of the device (an SCD4x waits up to ~6 s...)


class IioConfig(DeviceConfig):
    """One IIO device (or hwmon sensor: SHT3x, SHT4x...), chosen by its ``name`` file (plus
    ``index`` when several share it)."""

    driver: Literal["iio"] = "iio"
    root: str = Field("/sys", description="Where sysfs is mounted (a container may mount the "
                      "host's elsewhere).")
    name: str = Field(min_length=1, description='The chip\'s name as the kernel gives it in its '
                      '`name` file, e.g. "bme280" (never iio:deviceN, which changes across boots).')
    index: int | None = Field(None, ge=0, description="Which one, when several devices share the "
                              "name (0, 1...; in bus-address order).")
    channels: list[str] | None = Field(None, min_length=1, description="Publish only these "
                                       "channels (sensor names such as temperature, humidity, "
                                       "pressure, voltage0); default: every channel.")
    interval: float | None = Field(INTERVAL_DEFAULT, gt=0,
                                   description="Seconds between two reads of the device.")
    read_timeout: float = Field(READ_TIMEOUT_DEFAULT, gt=0, description="Seconds one cycle's "
                                "reads may take before they count as a timeout.")

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

    def sensor_specs(self) -> list[SensorSpec] | None:
        """The chosen ``channels``; without them, the chip's channels found at run time."""
        if self.channels is None:
            return None
        return [SensorSpec(name, *spec_of(name)) for name in self.channels]

    def device_model(self) -> DeviceModel:
        return DeviceModel(MAKERS.get(self.name), self.name.upper())
