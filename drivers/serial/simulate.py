"""``sensor-gateway simulate serial``: a simulated serial device on a pseudo-terminal."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from drivers.serial.simulator import MODBUS_REGISTERS, PROTOCOLS, REGEX_PATTERN, SerialSimulator
from gateway.sdk import Command, run_until_stopped

__all__ = ["SIMULATE"]


def add_arguments(serial: argparse.ArgumentParser) -> None:
    serial.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS))
    serial.add_argument("--link", type=Path, help="stable path for the port (default: a temp dir)")
    serial.add_argument("--rate", type=float, default=1.0, help="frames per second (streaming)")
    serial.add_argument("--garbage", type=float, default=0.0,
                        help="probability of random bytes before a frame (0..1)")
    serial.add_argument("--dropout", type=float, nargs=2, metavar=("EVERY", "FOR"),
                        help="unplug every EVERY seconds for FOR seconds")
    serial.add_argument("--seed", type=int, help="reproducible values")
    serial.add_argument("--unit", type=int, action="append",
                        help="Modbus unit id (default 1); repeat for several slaves on one bus")


def _snippet(sim: SerialSimulator) -> str:
    lines = ["[[devices]]", 'id = "simulated-serial"', 'driver = "serial"',
             f'port = "{sim.link}"', f'protocol = "{sim.protocol}"']
    if sim.protocol == "regex":
        lines.append(f"pattern = '{REGEX_PATTERN}'")
    if sim.protocol == "modbus":
        lines += [f"unit = {sim.unit}", "interval = 2", "registers = ["]
        lines += [f"  {_inline(r)}," for r in MODBUS_REGISTERS]
        lines.append("]")
    return "\n".join(lines)


def _inline(table: dict[str, object]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"


def run(args: argparse.Namespace) -> int:
    sim = SerialSimulator(args.protocol, args.link, rate=args.rate, garbage=args.garbage,
                          dropout=tuple(args.dropout) if args.dropout else None,
                          seed=args.seed, unit=args.unit or [1])
    try:
        run_until_stopped(lambda: _serve(sim))
    finally:  # every exit path: the link and the temp dir go (idempotent after __aexit__)
        sim.port.close()
    return 0


async def _serve(sim: SerialSimulator) -> None:
    async with sim:
        print(f"simulated {sim.protocol} device on {sim.link} -> {os.readlink(sim.link)}")
        print("config for it:\n\n" + _snippet(sim) + "\n", flush=True)
        await sim.run()


SIMULATE = Command(help="a serial device on a pseudo-terminal", add_arguments=add_arguments,
                   run=run)
