"""``sensor-gateway scan iio``: every IIO device the kernel shows, and every hwmon sensor on an
I2C or SPI bus (SHT3x, SHT4x, AHT10, TMP102...): its ``name``, the index that tells apart two of
one name, where it sits, each channel with a fresh value and unit; then ready ``[[devices]]``
blocks; and those blocks for ``init --from-scan``.

A command, not the daemon: it reads synchronously.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from drivers._sysfs import reason
from drivers._sysfs.cli import add_root_arguments, device_id, print_json, table, toml_string
from drivers.iio.config import MAKERS
from gateway.sdk import DecodeError, ScanCommand

__all__ = ["SCAN", "FoundChannel", "FoundDevice", "device_block", "scan", "starter_blocks"]


@dataclass(frozen=True, slots=True)
class FoundChannel:
    name: str
    value: float | None
    unit: str | None
    problem: str | None = None

    def text(self) -> str:
        if self.value is None:
            return f"{self.name}: {self.problem}"
        return f"{self.name} {self.value:g}" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True, slots=True)
class FoundDevice:
    device: str  # iio:deviceN (changes across boots: not for the config)
    name: str
    index: int | None  # set when several devices share the name
    where: str  # the parent device: bus and address, e.g. 1-0076
    channels: list[FoundChannel] = field(default_factory=list)


def scan(root: str = "/sys") -> list[FoundDevice]:
    from drivers.iio.driver import list_devices, named  # noqa: PLC0415 - the driver's own

    devices = list_devices(Path(root))
    found = []
    for device in devices:
        same = named(devices, device.name)
        if device not in same or (device.hwmon and not wired(device.where)):
            continue  # shadowed by an IIO device of its name; or the SoC's own (cpu_thermal...)
        found.append(FoundDevice(device.path.name, device.name,
                                 same.index(device) if len(same) > 1 else None, device.where,
                                 _channels(device.path, device.hwmon)))
    return found


def _channels(directory: Path, hwmon: bool) -> list[FoundChannel]:
    from drivers.iio.driver import plan, read_plans  # noqa: PLC0415

    try:
        plans = plan(os.listdir(directory), hwmon=hwmon)
    except OSError as exc:
        return [FoundChannel("?", None, None, reason(exc))]
    found = []
    for one, result in read_plans(directory, plans):
        channel = one.channel
        if isinstance(result, OSError):
            found.append(FoundChannel(channel.name, None, channel.unit, reason(result)))
            continue
        value, offset, scale = result
        try:
            found.append(FoundChannel(channel.name, channel.value(value or "", offset, scale),
                                      channel.unit))
        except DecodeError as exc:
            found.append(FoundChannel(channel.name, None, channel.unit, str(exc)))
    return found


def wired(where: str) -> bool:
    """Does a device sit on an I2C or SPI bus (a sensor wired to the Pi, not the SoC's own
    hwmon devices, cpu_thermal and rpi_volt, nor a 1-Wire probe's)?"""
    return re.fullmatch(r"[0-9]+-[0-9a-f]{4}|spi[0-9]+\.[0-9]+", where) is not None


def place(where: str) -> str:
    """``1-0076`` (the kernel's name of an I2C client) as ``I2C bus 1, address 0x76``."""
    match = re.fullmatch(r"([0-9]+)-00([0-9a-f]{2})", where)
    return f"I2C bus {match[1]}, address 0x{match[2]}" if match else where


def device_block(device: FoundDevice, root: str, identifier: str) -> str:
    maker = MAKERS.get(device.name)
    about = f"{maker} {device.name.upper()}" if maker else device.name
    lines = ["", "[[devices]]", f"# {about} on {place(device.where)}", f'id = "{identifier}"',
             'driver = "iio"', f"name = {toml_string(device.name)}"]
    if device.index is not None:
        lines.append(f"index = {device.index}  # of the {device.name}s, in address order")
    if root != "/sys":
        lines.append(f"root = {toml_string(root)}")
    lines.append("interval = 10")
    names = ", ".join(f'"{c.name}"' for c in device.channels)
    lines.append(f"# channels = [{names}]  # all of them by default")
    return "\n".join(lines) + "\n"


def starter_blocks(taken: set[str], root: str = "/sys") -> list[str]:
    """``init --from-scan``: one device per IIO (or I2C hwmon) sensor with a readable channel."""
    return [device_block(d, root, device_id(d.name, taken)) for d in scan(root) if d.channels]


def _run(args: argparse.Namespace) -> int:
    devices = scan(args.root)
    if args.json:
        return print_json(devices)
    if not devices:
        print(f"no IIO device (nor I2C hwmon sensor) under {args.root}: is the chip's overlay in "
              "config.txt (dtoverlay=i2c-sensor,bme280...) and the chip on the bus "
              "(i2cdetect -y 1)?")
        return 0
    rows = [[d.device, d.name, "-" if d.index is None else str(d.index), d.where,
             ", ".join(c.text() for c in d.channels) or "no readable channel"] for d in devices]
    print(table(["DEVICE", "NAME", "INDEX", "AT", "CHANNELS"], rows))
    taken: set[str] = set()
    print("\n# paste into your config:" + "".join(
        device_block(d, args.root, device_id(d.name, taken)) for d in devices))
    return 0


SCAN = ScanCommand(
    help="I2C sensors through the kernel (IIO: BME280, BH1750, ADS1015, SCD4x...; hwmon: SHT3x,"
         " SHT4x...): name, channels with values, ready device blocks",
    add_arguments=add_root_arguments,
    run=_run,
    starter=starter_blocks,
)
