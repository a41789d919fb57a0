"""``sensor-gateway scan ble``: the BLE devices nearby.

A live table on a terminal (redrawn every second), the final table otherwise: address, name,
RSSI, the decoder that matched, the manufacturer and model it recognised, and the decoded
values (or ``encrypted: set bindkey``), so users can fill in the config. It uses the daemon's
own scanner and decoders (``--adapter simulated``: the simulated devices).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from drivers.ble.decoders import Advert, AdvertFormat, Decoded, decode, identify, match_decoder
from drivers.ble.source import AdapterScanner, AdvertSource
from gateway.sdk import DecodeError, ScanCommand, run_until_stopped

__all__ = ["SCAN", "ScanTable", "add_arguments", "run"]

EXIT_OK = 0
EXIT_FAILED = 1


def add_arguments(ble: argparse.ArgumentParser) -> None:
    ble.add_argument("--seconds", type=float, default=10.0, help="how long to scan (default 10)")
    ble.add_argument("--adapter", default="hci0",
                     help='adapter (default hci0); "simulated" lists the simulated devices')


@dataclass
class Row:
    address: str
    name: str
    rssi: int | None
    decoder: str
    device: str
    values: str
    seen: float


def _printable(text: str | None, width: int = 24) -> str:
    """A device-supplied name, safe for a terminal (no control characters)."""
    return "".join(c if c.isprintable() else "?" for c in (text or ""))[:width]


def describe(advert: Advert) -> tuple[str, str, str]:
    """(decoder name or "-", manufacturer and model or "", decoded values or why not)."""
    name = match_decoder(advert)
    if name is None:
        return "-", "", ""
    known = identify(advert, name)
    device = _printable(" ".join(p for p in (known.manufacturer, known.model) if p)
                        if known else "", 32)
    try:
        decoded = decode(advert, name)
    except DecodeError as exc:
        if exc.kind == "decrypt":
            return name, device, "encrypted: set bindkey"
        if exc.kind == "unsupported":  # e.g. a SwitchBot that is not a thermometer
            return name, device, f"no readings: {exc}"
        return name, device, f"undecodable: {exc}"
    return name, _device(decoded) or device, _values(decoded)


def _device(decoded: Decoded) -> str:
    parts = (decoded.manufacturer, decoded.model)
    return _printable(" ".join(p for p in parts if p), 32)


def _values(decoded: Decoded) -> str:
    values = "  ".join(f"{m.name}={m.value:g}{m.unit or ''}" for m in decoded.measurements)
    return values or "; ".join(decoded.warnings)


class ScanTable:
    """Everything heard, by address (a Subscriber of a source, for all addresses)."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.failure: str | None = None

    def on_advert(self, advert: Advert) -> None:
        old = self.rows.get(advert.address)
        decoder, device, values = describe(advert)
        if decoder == "-" and old is not None and old.decoder != "-":
            # a scan response: keep the data
            decoder, device, values = old.decoder, old.device, old.values
        name = _printable(advert.name) or (old.name if old else "")
        self.rows[advert.address] = Row(advert.address, name, advert.rssi, decoder, device,
                                        values, time.monotonic())

    def on_down(self, reason: str) -> None:
        self.failure = reason

    def render(self) -> str:
        rows = sorted(self.rows.values(), key=lambda r: -(r.rssi if r.rssi is not None else -999))
        lines = [f"{'ADDRESS':<17}  {'NAME':<24}  {'RSSI':>4}  {'DECODER':<12}  "
                 f"{'DEVICE':<24}  VALUES"]
        for r in rows:
            rssi = "" if r.rssi is None else str(r.rssi)
            lines.append(f"{r.address:<17}  {r.name:<24}  {rssi:>4}  {r.decoder:<12}  "
                         f"{r.device:<24}  {r.values}")
        lines.append(f"{len(rows)} device(s), {sum(r.decoder != '-' for r in rows)} decodable")
        return "\n".join(lines)


def _source(adapter: str) -> AdvertSource:
    if adapter != "simulated":
        return AdapterScanner(adapter)
    from drivers.ble.simulator import SimulatedAdverts  # noqa: PLC0415

    return SimulatedAdverts()


def _add_demo_devices(source: AdvertSource) -> None:
    from drivers.ble.simulator import SimulatedAdverts, SimulatedDevice  # noqa: PLC0415

    assert isinstance(source, SimulatedAdverts)
    formats: tuple[AdvertFormat, ...] = ("bthome", "ruuvi", "atc1441", "pvvx", "xiaomi",
                                         "qingping", "govee")
    for i, fmt in enumerate(formats, start=1):
        source.add(SimulatedDevice(f"A4:C1:38:00:00:{i:02X}", fmt, 1.0, name=f"sim-{fmt}"))


async def scan(adapter: str, seconds: float, out: TextIO, live: bool) -> int:
    table = ScanTable()
    async with _source(adapter) as source:
        if adapter == "simulated":
            _add_demo_devices(source)
        with source.subscribe(None, table), contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while table.failure is None:
                    await asyncio.sleep(1.0)
                    if live:
                        out.write("\x1b[H\x1b[2J" + table.render() + "\n")
                        out.flush()
    if table.failure is not None:
        # the hint as typed here: an option, not the config key the daemon's hint names
        failure = table.failure.replace('adapter = "simulated"', "--adapter simulated")
        print(f"sensor-gateway: scan on {adapter} failed: {failure}", file=sys.stderr)
        return EXIT_FAILED
    if not live:
        out.write(table.render() + "\n")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    live = sys.stdout.isatty()
    logging.getLogger("drivers.ble").setLevel(logging.ERROR)  # the failure is printed once
    code = run_until_stopped(lambda: scan(args.adapter, args.seconds, sys.stdout, live))
    return EXIT_OK if code is None else code


SCAN = ScanCommand(
    help="BLE advertisements: address, name, RSSI, matched decoder, manufacturer and model, "
         "decoded values",
    add_arguments=add_arguments,
    run=run,
)
