"""``sensor-gateway scan KIND``: find devices to put in the config.

Every driver kind with a ``SCAN`` command (:class:`gateway.sdk.ScanCommand`) is a ``KIND``:
``scan serial`` lists serial ports, ``scan ble`` the BLE devices nearby, and so on.
"""

from __future__ import annotations

import argparse

from gateway.core import registry

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], *,
               with_kinds: bool = True) -> None:
    """``with_kinds``: add every driver kind's sub-command (imports the kinds' modules)."""
    scan = sub.add_parser("scan", help="find devices to configure")
    kinds = scan.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, command in (registry.commands("SCAN") if with_kinds else {}).items():
        command.add_arguments(kinds.add_parser(kind, help=command.help))


def run(args: argparse.Namespace) -> int:
    return registry.commands("SCAN")[args.kind].run(args)
