"""``sensor-gateway scan system``: what the host tells about its health (each sensor the
``system`` driver can read here, with its value) and the board's model, then a ready
``[[devices]]`` block; and that block for ``init --from-scan``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from drivers._sysfs import reason
from drivers._sysfs.cli import add_root_arguments, device_id, print_json, table, toml_string
from drivers.system.config import SystemConfig
from drivers.system.sources import SENSORS
from gateway.sdk import DecodeError, ScanCommand

__all__ = ["SCAN", "FoundHost", "device_block", "scan", "starter_blocks"]


@dataclass(frozen=True, slots=True)
class FoundHost:
    maker: str | None
    model: str | None
    values: dict[str, float]  # sensor -> value, for those this host has
    problems: dict[str, str]  # source -> why it gave nothing (absent ones are not listed)


def scan(root: str = "/sys", proc: str = "/proc", disk_path: str = "/") -> FoundHost:
    from drivers.system.driver import parse, read_model, read_sources, source_paths  # noqa: PLC0415

    config = SystemConfig(id="scan", root=root, proc=proc, disk_path=disk_path)
    values: dict[str, float] = {}
    problems: dict[str, str] = {}
    for source, value in read_sources(source_paths(config)).items():
        if isinstance(value, FileNotFoundError):
            continue  # not on this host (no Pi firmware flags on a PC...)
        try:
            if isinstance(value, OSError):
                raise value
            values.update(parse(source, value))
        except OSError as exc:
            problems[source] = reason(exc)
        except DecodeError as exc:
            problems[source] = str(exc)
    model = read_model(root)
    return FoundHost(model[0] if model else None, model[1] if model else None, values, problems)


def device_block(host: FoundHost, root: str, proc: str, identifier: str) -> str:
    lines = ["", "[[devices]]"]
    if host.model:
        lines.append(f"# {host.model}")
    lines += [f'id = "{identifier}"', 'driver = "system"']
    if root != "/sys":
        lines.append(f"root = {toml_string(root)}")
    if proc != "/proc":
        lines.append(f"proc = {toml_string(proc)}")
    lines.append("interval = 60")
    lines.append('disk_path = "/"  # the filesystem whose use disk_used tells')
    names = ", ".join(f'"{n}"' for n in SENSORS if n in host.values)
    lines.append(f"# sensors = [{names}]  # all it has by default")
    return "\n".join(lines) + "\n"


def starter_blocks(taken: set[str], root: str = "/sys", proc: str = "/proc") -> list[str]:
    """``init --from-scan``: the host itself, when it tells anything."""
    host = scan(root, proc)
    return [device_block(host, root, proc, device_id("host", taken))] if host.values else []


def _value(name: str, value: float) -> str:
    if SENSORS[name] is None and name not in ("load_1m",):
        return "on" if value else "off"
    return f"{value:g}" + (f" {SENSORS[name]}" if SENSORS[name] else "")


def _run(args: argparse.Namespace) -> int:
    host = scan(args.root, args.proc)
    if args.json:
        return print_json(host)
    print(f"host: {' '.join(x for x in (host.maker, host.model) if x) or 'unknown model'}")
    rows = [[name, _value(name, value)] for name, value in host.values.items()]
    rows += [[source, f"unreadable: {why}"] for source, why in host.problems.items()]
    print(table(["SENSOR", "VALUE"], rows))
    if not host.values:
        print(f"nothing readable under {args.root} and {args.proc}")
        return 0
    print("\n# paste into your config:" + device_block(host, args.root, args.proc, "host"))
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_root_arguments(parser, proc=True)


SCAN = ScanCommand(
    help="the host's health (SoC temperature, load, memory, disk, uptime, Pi throttling)",
    add_arguments=_arguments,
    run=_run,
    starter=starter_blocks,
)
