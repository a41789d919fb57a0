"""``sensor-gateway init``: write a starter config (simulated devices, or the serial ports found).

Never overwrites: the file is created exclusively (``open(..., "x")``); an existing file is an
error (exit 1). The result passes ``sensor-gateway check``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.scan_cli import SerialPort, serial_ports
from gateway.topics import sanitize

__all__ = ["add_parser", "run", "starter_config"]

EXIT_FATAL = 1
PROTOCOLS = "json, csv, kv, regex, pms5003, sds011, mhz19, nmea, modbus"

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


def _device_id(port: SerialPort, taken: set[str]) -> str:
    base = sanitize(Path(port.device).name.lower(), fallback="serial")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _serial_device(port: SerialPort, device_id: str) -> str:
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


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def starter_config(path: Path, ports: list[SerialPort] | None = None) -> str:
    """The starter file's text: simulated devices, or one serial device per port."""
    text = _HEADER.format(path=path)
    if ports is None:
        return text + _SIMULATED.format()
    taken: set[str] = set()
    return text + "".join(_serial_device(p, _device_id(p, taken)) for p in ports)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser("init", help="write a starter config (never overwrites)")
    init.add_argument("--config", metavar="PATH", default="config.toml",
                      help="file to create (default: ./config.toml)")
    init.add_argument("--from-scan", action="store_true",
                      help="one serial device per serial port found, instead of simulated ones")


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    ports = None
    if args.from_scan:
        ports = serial_ports()
        if not ports:
            print("sensor-gateway: no serial ports found; run `sensor-gateway init` without "
                  "--from-scan for a simulated starter", file=sys.stderr)
            return EXIT_FATAL
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(starter_config(path, ports))
    except FileExistsError:
        print(f"sensor-gateway: {path} exists; not overwriting it", file=sys.stderr)
        return EXIT_FATAL
    except OSError as exc:
        print(f"sensor-gateway: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_FATAL
    print(f"wrote {path}" + (f" ({len(ports)} serial devices: set each protocol)" if ports
                             else "") + f"; check it with: sensor-gateway check --config {path}")
    return 0
