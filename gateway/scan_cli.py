"""``sensor-gateway scan KIND``: find devices to put in the config.

``scan serial`` lists serial ports (pyserial's ``list_ports``) with their stable
``/dev/serial/by-id`` links and USB ids; ``scan ble`` (:mod:`gateway.scan_ble`) the BLE devices
nearby. Other kinds add themselves to :data:`KINDS`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "SerialPort", "add_parser", "run", "serial_ports"]

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


def _ble_args(parser: argparse.ArgumentParser) -> None:
    from gateway import scan_ble  # noqa: PLC0415 - BLE code only for this command

    scan_ble.add_arguments(parser)


def _run_ble(args: argparse.Namespace) -> int:
    from gateway import scan_ble  # noqa: PLC0415

    return scan_ble.run(args)


# kind -> (help, add arguments, run)
KINDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                       Callable[[argparse.Namespace], int]]] = {
    "serial": ("serial ports with their /dev/serial/by-id paths and USB ids", _serial_args,
               _run_serial),
    "ble": ("BLE advertisements: address, name, RSSI, matched decoder, decoded values",
            _ble_args, _run_ble),
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = sub.add_parser("scan", help="find devices to configure")
    kinds = scan.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (text, add_arguments, _) in KINDS.items():
        add_arguments(kinds.add_parser(kind, help=text))


def run(args: argparse.Namespace) -> int:
    return KINDS[args.kind][2](args)
