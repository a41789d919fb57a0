"""``sensor-gateway scan onewire``: the 1-Wire thermometers the kernel shows, each with its bus,
chip and a fresh reading (about 750 ms each), then a ready ``[[devices]]`` block; and that block
for ``init --from-scan``.

A command, not the daemon: it reads synchronously, one probe after the other.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from drivers._sysfs import reason
from drivers._sysfs.cli import add_root_arguments, device_id, print_json, table, toml_string
from drivers.onewire.config import FAMILIES, UNIT
from gateway.sdk import DecodeError, ScanCommand

__all__ = ["SCAN", "FoundProbe", "device_block", "scan", "starter_blocks"]


@dataclass(frozen=True, slots=True)
class FoundProbe:
    address: str
    chip: str
    bus: str
    value: float | None  # °C
    problem: str | None  # why there is no value


def devices_dir(root: str) -> Path:
    return Path(root) / "bus" / "w1" / "devices"


def scan(root: str = "/sys") -> list[FoundProbe]:
    """Every thermometer under ``<root>/bus/w1/devices``, read once (85 °C: twice)."""
    from drivers.onewire.driver import list_probes  # noqa: PLC0415 - the driver's own listing

    devices = devices_dir(root)
    found = []
    for address, probe in list_probes(devices).items():
        value, problem = None, None
        try:
            value = _read(devices / address)
        except DecodeError as exc:
            problem = str(exc)
        except OSError as exc:
            problem = reason(exc)
        found.append(FoundProbe(address, FAMILIES[address[:2]], os.path.basename(probe.bus),
                                value, problem))
    return found


def _read(directory: Path) -> float:
    from drivers.onewire.driver import parse, read_probe  # noqa: PLC0415
    from drivers.onewire.parse import POWER_ON  # noqa: PLC0415

    value = parse(*read_probe(directory))
    if value == POWER_ON:  # the power-on value: believed only if a second read says it too
        value = parse(*read_probe(directory))
    return value / 1000


def device_block(probes: list[FoundProbe], root: str, device: str) -> str:
    """One ``onewire`` device for these probes, each named by its address (rename them)."""
    lines = ["", "[[devices]]", f'id = "{device}"', 'driver = "onewire"']
    if root != "/sys":
        lines.append(f"root = {toml_string(root)}")
    lines.append("interval = 30")
    lines.append("[devices.sensors]  # address = the sensor's name: rename them")
    lines += [f'"{p.address}" = "{p.address}"  # {p.chip}, {describe(p)}' for p in probes]
    return "\n".join(lines) + "\n"


def describe(probe: FoundProbe) -> str:
    return f"{probe.value:g} {UNIT}" if probe.value is not None else f"no value: {probe.problem}"


def starter_blocks(taken: set[str], root: str = "/sys") -> list[str]:
    """``init --from-scan``: one device with every thermometer found (none: no block)."""
    probes = scan(root)
    return [device_block(probes, root, device_id("onewire", taken))] if probes else []


def _run(args: argparse.Namespace) -> int:
    probes = scan(args.root)
    if args.json:
        return print_json(probes)
    if not probes:
        print(f"no 1-Wire thermometer under {devices_dir(args.root)}: is dtoverlay=w1-gpio in "
              "config.txt, and the probe wired with its pull-up (4.7 kΩ to 3.3 V)?")
        return 0
    print(table(["BUS", "ADDRESS", "CHIP", "VALUE"],
                [[p.bus, p.address, p.chip, describe(p)] for p in probes]))
    print("\n# paste into your config:" + device_block(probes, args.root, "onewire"))
    return 0


SCAN = ScanCommand(
    help="1-Wire thermometers (DS18B20...): bus, chip, current value, a ready device block",
    add_arguments=add_root_arguments,
    run=_run,
    starter=starter_blocks,
)
