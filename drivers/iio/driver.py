"""Reading one IIO device (or hwmon device) from sysfs every ``interval``.

The device is found by its ``name`` file under ``<root>/bus/iio/devices`` (``iio:deviceN``
numbers change across boots), else under ``<root>/class/hwmon`` (the chips with a hwmon driver:
SHT3x, SHT4x, AHT10, TMP102, LM75...); several with one name are told apart by ``index``,
counted in the order of where they sit (bus and address: ``1-0076`` before ``1-0077``), which
does not change. Its channels are listed once per session; each cycle reads them all in one job
of the shared sysfs executor (:mod:`drivers._sysfs`), the device being its own lane.

A read that fails with EIO (or EREMOTEIO, ETIMEDOUT...: the sensor fell off the bus) is counted
as ``io_error`` and the next cycle tries again: the device goes offline after the usual
timeout and comes back when reads succeed. If the device itself goes away (ENOENT, ENODEV:
unbound, module unloaded) the driver ends and supervision finds it again by name.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from drivers._sysfs import SysfsExecutor, is_gone, read_text, reason, shared_executor
from drivers.iio.channels import Channel, channels_of, hwmon_channels_of
from drivers.iio.config import IioConfig
from gateway.sdk import DecodeError, DeviceUnavailable, Driver, DriverError, Measurement, ticks

__all__ = ["IioDevice", "IioDriver", "Plan", "list_devices", "named", "plan", "select"]


@dataclass(frozen=True, slots=True)
class IioDevice:
    path: Path  # <root>/bus/iio/devices/iio:deviceN (or <root>/class/hwmon/hwmonN)
    name: str
    location: str  # the real directory of its parent device (bus and address)
    hwmon: bool = False

    @property
    def where(self) -> str:
        return os.path.basename(self.location)


@dataclass(frozen=True, slots=True)
class Plan:
    """The files one cycle reads for one channel."""

    channel: Channel
    offset: str | None
    scale: str | None

    def files(self) -> list[str | None]:
        return [self.channel.value_file(), self.offset, self.scale]


def list_devices(root: Path) -> list[IioDevice]:
    """Every IIO device under ``<root>/bus/iio/devices``, then every hwmon device under
    ``<root>/class/hwmon``, each in the order of where it sits (blocking: in the executor)."""
    return (_listed(root / "bus" / "iio" / "devices", "iio:device", hwmon=False)
            + _listed(root / "class" / "hwmon", "hwmon", hwmon=True))


def _listed(base: Path, prefix: str, *, hwmon: bool) -> list[IioDevice]:
    try:
        entries = sorted(e for e in os.listdir(base) if e.startswith(prefix))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        try:
            name = read_text(base / entry / "name").strip()
        except OSError:
            continue  # going away as we look (or a hwmon device without a name)
        real = os.path.realpath(base / entry)
        # iio:deviceN sits in its device's directory; hwmonN one level deeper, in .../hwmon/
        location = os.path.dirname(os.path.dirname(real) if hwmon else real)
        found.append(IioDevice(base / entry, name, location, hwmon))
    return sorted(found, key=lambda d: d.location)


def select(devices: list[IioDevice], name: str, index: int | None, base: Path) -> IioDevice:
    """The device named ``name`` (an IIO one before a hwmon one of the same name)."""
    same = named(devices, name)
    if not same:
        others = sorted({d.name for d in devices})
        found = (f"there are: {', '.join(others)}" if others else
                 f"there is none (dtoverlay=i2c-sensor,{name} in config.txt?)")
        raise DeviceUnavailable(f"no IIO device named {name!r} under {base}; {found}")
    if index is None and len(same) > 1:
        where = ", ".join(f"{i}: {d.where}" for i, d in enumerate(same))
        raise DriverError(f"{len(same)} IIO devices are named {name!r}: set index ({where})")
    if index is not None and index >= len(same):
        raise DeviceUnavailable(f"index = {index}, but {len(same)} IIO device(s) named {name!r}")
    return same[index or 0]


def named(devices: list[IioDevice], name: str) -> list[IioDevice]:
    """The devices ``name`` selects, in index order: the IIO ones, else the hwmon ones."""
    return ([d for d in devices if d.name == name and not d.hwmon]
            or [d for d in devices if d.name == name])


def plan(files: list[str], *, hwmon: bool = False) -> list[Plan]:
    """What to read for each channel, from the device directory's file names."""
    if hwmon:
        return [Plan(c, None, None) for c in hwmon_channels_of(files)]
    present = set(files)

    def first(candidates: list[str]) -> str | None:
        return next((f for f in candidates if f in present), None)

    return [Plan(c, None if c.processed else first(c.scale_files("offset")),
                 None if c.processed else first(c.scale_files("scale")))
            for c in channels_of(files)]


Outcome = tuple[Plan, list[str | None] | OSError]


def read_plans(directory: Path, plans: list[Plan]) -> list[Outcome]:
    """One cycle's texts, channel by channel (blocking: in the executor)."""
    outcomes: list[Outcome] = []
    for one in plans:
        try:
            texts = [None if f is None else read_text(directory / f) for f in one.files()]
        except OSError as exc:
            outcomes.append((one, exc))
        else:
            outcomes.append((one, texts))
    return outcomes


class IioDriver(Driver[IioConfig]):
    async def run(self) -> None:
        root = Path(self.config.root)
        base = root / "bus" / "iio" / "devices"
        async with shared_executor(self.ctx) as pool:
            devices = await pool.run(("iio-list", str(root)), list_devices, root)
            device = select(devices, self.config.name, self.config.index, base)
            files = await pool.run(device.location, os.listdir, device.path)
            plans = self._chosen(plan(files, hwmon=device.hwmon))
            self.ctx.log.info("%s at %s (%s): %s", device.name, device.where, device.path.name,
                              ", ".join(p.channel.name for p in plans))
            async for _ in ticks(self.config.poll_interval(), self.ctx):
                await self._cycle(pool, device, plans)

    def _chosen(self, plans: list[Plan]) -> list[Plan]:
        if not plans:
            raise DeviceUnavailable(f"{self.config.name} has no readable channel")
        wanted = self.config.channels
        if wanted is None:
            return plans
        names = [p.channel.name for p in plans]
        for missing in (n for n in wanted if n not in names):
            self.ctx.log.error("channels: %r is not a channel of %s (it has: %s)", missing,
                               self.config.name, ", ".join(names))
        chosen = [p for p in plans if p.channel.name in wanted]
        if not chosen:
            raise DriverError(f"channels: none of them is a channel of {self.config.name}")
        return chosen

    async def _cycle(self, pool: SysfsExecutor, device: IioDevice, plans: list[Plan]) -> None:
        try:
            async with asyncio.timeout(self.config.read_timeout):
                outcomes = await pool.run(device.location, read_plans, device.path, plans)
        except TimeoutError:
            self.ctx.count_error("timeout", f"no answer within {self.config.read_timeout:g}s")
            return
        readings = [m for m in (self._measure(one, result) for one, result in outcomes) if m]
        if readings:
            self.ctx.emit(readings)

    def _measure(self, one: Plan, result: list[str | None] | OSError) -> Measurement | None:
        channel = one.channel
        if isinstance(result, OSError):
            if is_gone(result):
                raise DeviceUnavailable(f"{self.config.name} went away: {reason(result)}")
            self.ctx.count_error("io_error", f"{channel.name}: {reason(result)}")
            return None
        value, offset, scale = result
        assert value is not None
        try:
            return Measurement(channel.name, channel.value(value, offset, scale), channel.unit)
        except DecodeError as exc:
            self.ctx.count_error(exc.kind, f"{channel.name}: {exc}")
            return None
