"""Reading the host's health every ``interval`` (default 60 s), in one job of the shared sysfs
executor (:mod:`drivers._sysfs`) per cycle.

Without ``sensors``, a source this machine does not have (no ``get_throttled`` off a Pi, no
thermal zone in a VM) is left out after the first cycle, logged once; a source named in
``sensors`` that is missing is counted (``missing``) every cycle. Other failures are counted as
``io_error``, ``unparsable``, ``empty`` or ``timeout``; the other sensors are published all the
same.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from drivers._sysfs import SysfsExecutor, read_text, reason, shared_executor
from drivers.system import sources
from drivers.system.config import SystemConfig
from gateway.sdk import DecodeError, DeviceModel, DeviceUnavailable, Driver, Measurement, ticks

__all__ = ["SOURCE_OF", "SystemDriver", "read_sources", "source_paths"]

Value = str | os.statvfs_result | OSError

# sensor -> the source it comes from
SOURCE_OF: dict[str, str] = {
    "cpu_temperature": "thermal", "load_1m": "loadavg", "memory_used": "meminfo",
    "disk_used": "disk", "uptime": "uptime", **dict.fromkeys(sources.FLAGS.values(), "throttled"),
}
_PARSERS: dict[str, Callable[[Value], dict[str, float]]] = {
    "thermal": lambda v: {"cpu_temperature": sources.parse_thermal(str(v))},
    "loadavg": lambda v: {"load_1m": sources.parse_loadavg(str(v))},
    "meminfo": lambda v: {"memory_used": sources.parse_meminfo(str(v))},
    "uptime": lambda v: {"uptime": sources.parse_uptime(str(v))},
    "throttled": lambda v: sources.parse_throttled(str(v)),
}
_DESCRIPTIONS = {"thermal": "no SoC temperature", "throttled": "no Pi firmware flags",
                 "disk": "no disk", "loadavg": "no load average", "meminfo": "no meminfo",
                 "uptime": "no uptime"}


def source_paths(config: SystemConfig) -> dict[str, str]:
    root, proc = Path(config.root), Path(config.proc)
    return {
        "thermal": str(root / "class" / "thermal" / "thermal_zone0" / "temp"),
        "loadavg": str(proc / "loadavg"),
        "meminfo": str(proc / "meminfo"),
        "uptime": str(proc / "uptime"),
        "throttled": str(root / "devices" / "platform" / "soc" / "soc:firmware" / "get_throttled"),
        "disk": config.disk_path,
    }


def read_sources(paths: dict[str, str]) -> dict[str, Value]:
    """Each source's text (the disk: its statvfs) or the OSError (blocking: in the executor)."""
    values: dict[str, Value] = {}
    for source, path in paths.items():
        try:
            values[source] = os.statvfs(path) if source == "disk" else read_text(path)
        except OSError as exc:
            values[source] = exc
    return values


def read_model(root: str) -> tuple[str | None, str] | None:
    """The host's maker and model from the device tree or DMI (blocking: in the executor)."""
    def text(*parts: str) -> str | None:
        try:
            return read_text(Path(root, *parts))
        except OSError:
            return None

    return sources.host_model(text("firmware", "devicetree", "base", "model"),
                              text("class", "dmi", "id", "sys_vendor"),
                              text("class", "dmi", "id", "product_name"))


def parse(source: str, value: Value) -> dict[str, float]:
    if source == "disk":
        assert isinstance(value, os.statvfs_result)
        return {"disk_used": sources.disk_used(value)}
    return _PARSERS[source](value)


class SystemDriver(Driver[SystemConfig]):
    async def run(self) -> None:
        wanted = self.config.sensors or list(sources.SENSORS)
        all_paths = source_paths(self.config)
        paths = {s: all_paths[s] for s in dict.fromkeys(SOURCE_OF[n] for n in wanted)}
        first = True
        async with shared_executor(self.ctx) as pool:
            model = await pool.run(("system", self.config.proc), read_model, self.config.root)
            if model is not None:
                self.ctx.describe(DeviceModel(*model))
            async for _ in ticks(self.config.poll_interval(), self.ctx):
                values = await self._read(pool, paths)
                if values is None:
                    continue
                if first and self.config.sensors is None:
                    self._drop_absent(paths, values)
                    first = False
                self._publish(values, wanted)

    async def _read(self, pool: SysfsExecutor, paths: dict[str, str]) -> dict[str, Value] | None:
        try:
            async with asyncio.timeout(self.config.read_timeout):
                return await pool.run(("system", self.config.proc), read_sources, paths)
        except TimeoutError:
            self.ctx.count_error("timeout", f"no answer within {self.config.read_timeout:g}s")
            return None

    def _drop_absent(self, paths: dict[str, str], values: dict[str, Value]) -> None:
        for source, value in list(values.items()):
            if isinstance(value, FileNotFoundError):
                self.ctx.log.info("%s on this machine (%s): left out",
                                  _DESCRIPTIONS[source], paths.pop(source))
                del values[source]
        if not paths:
            raise DeviceUnavailable(f"none of the sources is there (root = {self.config.root!r}, "
                                    f"proc = {self.config.proc!r})")

    def _publish(self, values: dict[str, Value], wanted: list[str]) -> None:
        found: dict[str, float] = {}
        for source, value in values.items():
            try:
                if isinstance(value, OSError):
                    kind = "missing" if isinstance(value, FileNotFoundError) else "io_error"
                    self.ctx.count_error(kind, f"{source}: {reason(value)}")
                    continue
                found.update(parse(source, value))
            except DecodeError as exc:
                self.ctx.count_error(exc.kind, str(exc))
        readings = [Measurement(name, found[name], sources.SENSORS[name])
                    for name in wanted if name in found]
        if readings:
            self.ctx.emit(readings)
