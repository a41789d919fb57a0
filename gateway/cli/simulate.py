"""``sensor-gateway simulate KIND``: simulated devices for trying the daemon without hardware.

Every driver kind with a ``SIMULATE`` command (:class:`gateway.sdk.Command`) is a ``KIND``
(``simulate serial``: a serial device on a pseudo-terminal).
"""

from __future__ import annotations

import argparse

from gateway.core import registry

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], *,
               with_kinds: bool = True) -> None:
    """``with_kinds``: add every driver kind's sub-command (imports the kinds' modules)."""
    sim = sub.add_parser(
        "simulate", help="simulated devices for trying the daemon without hardware")
    kinds = sim.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, command in (registry.commands("SIMULATE") if with_kinds else {}).items():
        command.add_arguments(kinds.add_parser(kind, help=command.help))


def run(args: argparse.Namespace) -> int:
    return registry.commands("SIMULATE")[args.kind].run(args)
