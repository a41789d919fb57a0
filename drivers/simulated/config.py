"""The simulated driver's config: built-in signal profiles, sensors, injected faults."""


from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.sdk import DeviceConfig, DeviceModel, SensorSpec

__all__ = ["PROFILES", "FaultSpec", "Profile", "SimulatedConfig", "SimulatedSensor"]

DAY = 86_400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(_Strict):
    """A built-in sensor kind: unit, plausible range and signal shape."""

    unit: str | None
    min: float
    max: float
    base: float
    amplitude: float
    noise: float
    drift: float  # standard deviation of the random-walk step per read
    decimals: int = 2


PROFILES: dict[str, Profile] = {
    "temperature": Profile(unit="°C", min=-40, max=85, base=21, amplitude=3, noise=0.05,
                           drift=0.01),
    "humidity": Profile(unit="%", min=0, max=100, base=50, amplitude=10, noise=0.3, drift=0.05),
    "pressure": Profile(unit="hPa", min=300, max=1100, base=1013, amplitude=4, noise=0.1,
                        drift=0.02),
    "co2": Profile(unit="ppm", min=400, max=5000, base=650, amplitude=250, noise=10, drift=1,
                   decimals=0),
    "pm25": Profile(unit="µg/m³", min=0, max=1000, base=8, amplitude=5, noise=1, drift=0.1,
                    decimals=1),
    "illuminance": Profile(unit="lx", min=0, max=100_000, base=400, amplitude=450, noise=5,
                           drift=0, decimals=0),
    "battery": Profile(unit="%", min=0, max=100, base=92, amplitude=0, noise=0, drift=0.002,
                       decimals=0),
    "voltage": Profile(unit="V", min=0, max=60, base=3.3, amplitude=0.02, noise=0.005,
                       drift=0.0005, decimals=3),
}


class SimulatedSensor(_Strict):
    """One simulated sensor: a profile name, optionally with any of its numbers overridden."""

    name: str = Field(min_length=1)
    profile: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    base: float | None = None
    amplitude: float | None = None
    period: float = Field(DAY, gt=0)
    noise: float | None = Field(None, ge=0)
    drift: float | None = Field(None, ge=0)
    decimals: int | None = Field(None, ge=0, le=9)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.profile is not None and self.profile not in PROFILES:
            raise ValueError(f"unknown profile; known: {', '.join(PROFILES)}")
        if self.profile is None and self.name not in PROFILES and None in (self.min, self.max):
            raise ValueError(
                f"not a built-in profile ({', '.join(PROFILES)}): give profile, or min and max"
            )
        lo, hi = self.resolved().min, self.resolved().max
        if lo >= hi:
            raise ValueError("min must be < max")
        return self

    def resolved(self) -> Profile:
        base = PROFILES.get(self.profile or self.name)
        if base is None:  # fully custom: min and max given
            lo, hi = float(self.min or 0), float(self.max or 1)
            base = Profile(unit=None, min=lo, max=hi, base=(lo + hi) / 2,
                           amplitude=(hi - lo) / 4, noise=(hi - lo) / 200, drift=0)
        overrides = {k: v for k, v in self.model_dump(exclude={"name", "profile", "period"}).items()
                     if v is not None}
        return base.model_copy(update=overrides)


class FaultSpec(_Strict):
    """Injected faults, to exercise supervision. Counts are in reads of this device."""

    raise_every: int | None = Field(None, gt=0)
    hang_after: int | None = Field(None, gt=0)
    drop_every: int | None = Field(None, gt=0)
    out_of_range_every: int | None = Field(None, gt=0)


def _profile_shorthand(schema: dict[str, Any]) -> None:
    """JSON Schema: a sensor may be given by a built-in profile's name alone."""
    sensors = schema["properties"]["sensors"]
    sensors["items"] = {"anyOf": [
        {"type": "string", "enum": sorted(PROFILES), "description": "a built-in profile"},
        sensors["items"],
    ]}


class SimulatedConfig(DeviceConfig):
    model_config = ConfigDict(json_schema_extra=_profile_shorthand)

    driver: Literal["simulated"] = "simulated"
    sensors: list[SimulatedSensor] = Field(min_length=1)
    count: int | None = Field(None, ge=1, le=100_000)
    seed: int | None = None
    faults: FaultSpec = Field(default_factory=FaultSpec)

    @field_validator("sensors", mode="before")
    @classmethod
    def _names_are_profiles(cls, value: Any) -> Any:  # noqa: ANN401 - raw TOML
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique_sensor_names(self) -> Self:
        names = [s.name for s in self.sensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate sensor names: {', '.join(dupes)}")
        return self

    def expand(self) -> list[Self]:
        if self.count is None:
            return [self]
        return [self.model_copy(update={"id": f"{self.id}-{n}", "count": None})
                for n in range(1, self.count + 1)]

    def sensor_specs(self) -> list[SensorSpec]:
        return [SensorSpec(s.name, s.profile or s.name, s.resolved().unit) for s in self.sensors]

    def device_model(self) -> DeviceModel:
        return DeviceModel("sensor-gateway", "simulated device")

    def stack_modules(self) -> tuple[str, ...]:
        return ("drivers.simulated.driver",)
