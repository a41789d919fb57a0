"""Reading w1_therm thermometers: every ``interval``, each probe once, one bus at a time.

Each cycle lists ``<root>/bus/w1/devices`` (a probe that comes back is read again by itself),
then reads the probes bus by bus: the reads of one bus master follow each other (the kernel
holds the bus for a whole ~750 ms conversion), different buses are read side by side. Every
read runs in the shared sysfs executor (:mod:`drivers._sysfs`), never on the event loop.

Bad reads are counted by kind and never published: ``crc``, ``empty``, ``unparsable``,
``out_of_range`` (-127 °C...), ``power_on`` (85 °C not confirmed by a second read), ``gone``
(the probe's directory or file is missing, ENODEV, EIO), ``timeout``. The device is offline only
while no probe answers at all.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from drivers._sysfs import SysfsExecutor, read_text, reason, shared_executor
from drivers.onewire.config import ADDRESS, UNIT, OneWireConfig
from drivers.onewire.parse import POWER_ON, parse_temperature, parse_w1_slave
from gateway.sdk import DecodeError, DeviceContext, Driver, Measurement, ticks

__all__ = ["OneWireDriver", "Probe", "list_probes", "read_probe"]



@dataclass(frozen=True, slots=True)
class Probe:
    address: str
    bus: str  # the bus master's real directory: the executor lane of this probe's reads


def list_probes(devices: Path) -> dict[str, Probe]:
    """Thermometers under ``<root>/bus/w1/devices`` by address (blocking: in the executor).

    Each entry links to ``../../../devices/w1_bus_masterN/<address>``: its bus is the parent of
    where the link points. An absent directory (no w1 master loaded) holds no probe."""
    try:
        names = sorted(os.listdir(devices))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    found = {}
    for name in names:
        if ADDRESS.match(name):
            found[name] = Probe(name, os.path.dirname(os.path.realpath(devices / name)))
    return found


def read_probe(directory: Path) -> tuple[str, str]:
    """(file name, text) of one read: ``temperature`` where the kernel has it, else ``w1_slave``.

    Blocking for a whole conversion (~750 ms): in the executor only."""
    try:
        return "temperature", read_text(directory / "temperature")
    except FileNotFoundError:
        if not directory.is_dir():
            raise
    return "w1_slave", read_text(directory / "w1_slave")


def parse(file: str, text: str) -> int:
    return parse_temperature(text) if file == "temperature" else parse_w1_slave(text)


class _Gone(Exception):
    """A probe did not answer at all (not there, ENODEV, EIO)."""


@dataclass(slots=True)
class _Cycle:
    """What one cycle found: the readings, and the probes that did not answer at all."""

    readings: list[Measurement] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


class OneWireDriver(Driver[OneWireConfig]):
    def __init__(self, config: OneWireConfig, ctx: DeviceContext) -> None:
        super().__init__(config, ctx)
        self.devices = Path(config.root) / "bus" / "w1" / "devices"

    async def run(self) -> None:
        async with shared_executor(self.ctx) as pool:
            async for _ in ticks(self.config.poll_interval(), self.ctx):
                await self.cycle(pool)

    async def cycle(self, pool: SysfsExecutor) -> None:
        present = await pool.run(("w1-list", str(self.devices)), list_probes, self.devices)
        wanted = self._wanted(present)
        by_bus: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for address, name in wanted.items():
            probe = present.get(address)
            by_bus[probe.bus if probe else ""].append((address, name))
        found = _Cycle()
        async with asyncio.TaskGroup() as tg:
            for bus, probes in by_bus.items():
                tg.create_task(self._read_bus(pool, bus, probes, found),
                               name=f"device[{self.ctx.device_id}].w1[{bus or 'absent'}]")
        if found.readings:
            self.ctx.emit(found.readings)
        elif len(found.gone) == len(wanted):
            self.ctx.offline(self._silence(found.gone))

    def _wanted(self, present: dict[str, Probe]) -> dict[str, str]:
        """Address -> sensor name: the configured probes, else every thermometer present."""
        if self.config.sensors is not None:
            return dict(self.config.sensors)
        return {address: address for address in present}

    async def _read_bus(self, pool: SysfsExecutor, bus: str, probes: list[tuple[str, str]],
                        found: _Cycle) -> None:
        """The probes of one bus, one after the other."""
        for address, name in probes:
            if not bus:  # configured, but not under bus/w1/devices now
                self.ctx.count_error("gone", f"{address}: not on any 1-Wire bus")
                found.gone.append(address)
                continue
            try:
                millidegrees = await self._read(pool, bus, self.devices / address)
            except _Gone:
                found.gone.append(address)
                continue
            if millidegrees is not None:
                found.readings.append(Measurement(name, millidegrees / 1000, UNIT))

    async def _read(self, pool: SysfsExecutor, bus: str, directory: Path) -> int | None:
        """One probe's millidegrees; None after a bad read (counted)."""
        address = directory.name
        try:
            async with asyncio.timeout(self.config.read_timeout):
                return await self._confirmed(pool, bus, directory)
        except TimeoutError:
            self.ctx.count_error("timeout", f"{address}: no answer within "
                                            f"{self.config.read_timeout:g}s")
        except DecodeError as exc:
            self.ctx.count_error(exc.kind, f"{address}: {exc}")
        except OSError as exc:
            self.ctx.count_error("gone", f"{address}: {reason(exc)}")
            raise _Gone from exc
        return None

    async def _confirmed(self, pool: SysfsExecutor, bus: str, directory: Path) -> int:
        """A read; 85 °C (the power-on value) only if a second read says the same."""
        value = parse(*await pool.run(bus, read_probe, directory))
        if value != POWER_ON:
            return value
        try:
            second = parse(*await pool.run(bus, read_probe, directory))
        except (DecodeError, OSError):
            self._unconfirmed(directory.name, "the second read failed")
            raise
        if second != POWER_ON:
            self._unconfirmed(directory.name, f"the second read says {second / 1000:g} °C")
        return second

    def _unconfirmed(self, address: str, why: str) -> None:
        self.ctx.count_error("power_on", f"{address}: 85 °C (the power-on value) skipped: {why}")

    def _silence(self, gone: list[str]) -> str:
        if not gone:
            return (f"no 1-Wire thermometer under {self.devices} "
                    "(dtoverlay=w1-gpio in config.txt?)")
        return f"no 1-Wire probe answers ({', '.join(gone)})"
