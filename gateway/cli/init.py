"""``sensor-gateway init``: write a starter config (simulated devices, or the devices found).

``--from-scan`` asks every driver kind whose ``scan`` command can propose devices (serial
ports, and whatever other kinds register) for ready ``[[devices]]`` blocks.

Never overwrites: the file is created exclusively (``open(..., "x")``); an existing file is an
error (exit 1). The result passes ``sensor-gateway check``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.core import registry

__all__ = ["add_parser", "run", "starter_config"]

EXIT_FATAL = 1

_HEADER = """\
# sensor-gateway configuration, written by `sensor-gateway init`.
#   validate:  sensor-gateway check --config {path}
#   run:       sensor-gateway run --config {path}
#   watch:     sensor-gateway monitor --config {path}
# Editor completion: `sensor-gateway schema > sensor-gateway.schema.json`, then make
#   #:schema ./sensor-gateway.schema.json
# the first line of this file (Taplo / Even Better TOML).

[gateway]
# id = "my-pi"                  # default: the hostname

[mqtt]
host = "localhost"
port = 1883
# username = "gateway"
# password_file = "/etc/sensor-gateway/mqtt.secret"
# tls = true

[homeassistant]
discovery = false               # true: Home Assistant finds the sensors by itself
"""

_SIMULATED = """
[[devices]]
id = "demo"
driver = "simulated"
interval = 5.0
sensors = ["temperature", "humidity", "pressure"]

[[devices]]
id = "air"
driver = "simulated"
interval = 10.0
sensors = ["co2", "pm25"]
deadband = {{ co2 = 20 }}         # report-by-exception: only changes beyond 20 ppm...
heartbeat = 300                 # ...or every 5 minutes
"""


def starter_config(path: Path, blocks: list[str] | None = None) -> str:
    """The starter file's text: simulated devices, or the given ``[[devices]]`` blocks."""
    text = _HEADER.format(path=path)
    if blocks is None:
        return text + _SIMULATED.format()
    return text + "".join(blocks)


def scanned_blocks() -> list[str]:
    """Every kind's proposals, with ids unique across kinds."""
    taken: set[str] = set()
    blocks: list[str] = []
    for command in registry.commands("SCAN").values():
        starter = getattr(command, "starter", None)
        if starter is not None:
            blocks.extend(starter(taken))
    return blocks


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser("init", help="write a starter config (never overwrites)")
    init.add_argument("--config", metavar="PATH", default="config.toml",
                      help="file to create (default: ./config.toml)")
    init.add_argument("--from-scan", action="store_true",
                      help="the devices found (serial ports...) instead of simulated ones")


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    blocks = None
    if args.from_scan:
        blocks = scanned_blocks()
        if not blocks:
            print("sensor-gateway: no devices found; run `sensor-gateway init` without "
                  "--from-scan for a simulated starter", file=sys.stderr)
            return EXIT_FATAL
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(starter_config(path, blocks))
    except FileExistsError:
        print(f"sensor-gateway: {path} exists; not overwriting it", file=sys.stderr)
        return EXIT_FATAL
    except OSError as exc:
        print(f"sensor-gateway: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_FATAL
    found = f" ({len(blocks)} devices found: review each)" if blocks else ""
    print(f"wrote {path}{found}; check it with: sensor-gateway check --config {path}")
    return 0
