"""``sensor-gateway scan serial``: the serial ports (pyserial's ``list_ports``) with their stable
``/dev/serial/by-id`` links and USB ids; and for ``init --from-scan``, one device block per port.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.sdk import ScanCommand

__all__ = ["SCAN", "SerialPort", "describe", "format_ports", "serial_ports", "starter_blocks"]

BY_ID = Path("/dev/serial/by-id")


@dataclass(frozen=True, slots=True)
class SerialPort:
    """One serial port: its device path, stable by-id link and what the USB layer says."""

    device: str
    by_id: str | None
    usb_id: str | None  # "VID:PID" in hex
    description: str | None
    manufacturer: str | None
    serial_number: str | None

    @property
    def stable_path(self) -> str:
        """The path to put in a config: the by-id link when there is one."""
        return self.by_id or self.device


def _by_id_links(directory: Path) -> dict[str, str]:
    """Resolved device path -> its by-id link."""
    links: dict[str, str] = {}
    if directory.is_dir():
        for link in sorted(directory.iterdir()):
            links.setdefault(os.path.realpath(link), str(link))
    return links


def _text(value: object) -> str | None:
    return None if value in (None, "", "n/a") else str(value)


def describe(ports: Iterable[Any], by_id_dir: Path = BY_ID) -> list[SerialPort]:
    """pyserial ``ListPortInfo`` objects as :class:`SerialPort`, sorted by device."""
    links = _by_id_links(by_id_dir)
    found = []
    for port in ports:
        usb = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else None
        found.append(SerialPort(
            device=port.device, by_id=links.get(os.path.realpath(port.device)), usb_id=usb,
            description=_text(port.description), manufacturer=_text(port.manufacturer),
            serial_number=_text(port.serial_number)))
    return sorted(found, key=lambda p: p.device)


def serial_ports(by_id_dir: Path = BY_ID) -> list[SerialPort]:
    """The serial ports of this machine."""
    from serial.tools import list_ports  # noqa: PLC0415 - pyserial only for this command

    return describe(list_ports.comports(), by_id_dir)


def format_ports(ports: list[SerialPort]) -> str:
    if not ports:
        return "no serial ports found"
    rows = [("PORT", "BY-ID", "USB ID", "DESCRIPTION")]
    rows += [(p.device, p.by_id or "-", p.usb_id or "-",
              " ".join(x for x in (p.description, p.manufacturer) if x) or "-") for p in ports]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[3]])
                     for r in rows)


def _run_serial(args: argparse.Namespace) -> int:
    ports = serial_ports()
    if args.json:
        print(json.dumps([asdict(p) for p in ports], indent=2))
    else:
        print(format_ports(ports))
    return 0


def _serial_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")



PROTOCOLS = "json, csv, kv, regex, pms5003, sds011, mhz19, nmea, modbus"


def _device_id(port: SerialPort, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "_", Path(port.device).name.lower()).strip("_") or "serial"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def device_block(port: SerialPort, device_id: str) -> str:
    """One ``[[devices]]`` block for ``port`` (the protocol is for the user to set)."""
    about = ", ".join(x for x in (port.description, port.manufacturer,
                                  f"USB {port.usb_id}" if port.usb_id else None) if x)
    return (
        "\n[[devices]]\n"
        + (f"# {about}\n" if about else "")
        + f'id = "{device_id}"\n'
        f'driver = "serial"\n'
        f"port = {_toml_string(port.stable_path)}\n"
        f'protocol = "json"              # set the real one: {PROTOCOLS}\n'
        f"baudrate = 9600\n"
    )


def starter_blocks(taken: set[str], ports: list[SerialPort] | None = None) -> list[str]:
    """``init --from-scan``: one serial device per port found."""
    found = serial_ports() if ports is None else ports
    return [device_block(port, _device_id(port, taken)) for port in found]


SCAN = ScanCommand(
    help="serial ports with their /dev/serial/by-id paths and USB ids",
    add_arguments=_serial_args,
    run=_run_serial,
    starter=starter_blocks,
)
