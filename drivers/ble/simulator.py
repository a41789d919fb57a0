"""Simulated BLE sensors: real advertisement bytes without a radio (``adapter = "simulated"``).

Each simulated device broadcasts what a real one of its format would (BTHome v2, optionally
encrypted with its ``bindkey``; Ruuvi RAWv2; ATC1441; pvvx; a Xiaomi LYWSD03MMC, optionally
encrypted; a Qingping CGG1; a Govee H5075), built by the same encoders the
decoder tests use, every ``every`` seconds. The adverts go through the same dispatch and
decoders as a real adapter's, so a laptop runs the whole BLE path.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import zlib
from typing import Self

from drivers.ble.decoders import AdvertFormat, build_advert
from drivers.ble.source import AdvertSource
from gateway.sdk import Measurement

__all__ = ["SimulatedAdverts", "SimulatedDevice", "signals"]

SOURCE_NAME = "simulated"


class SimulatedDevice:
    """What one simulated device sends."""

    def __init__(self, address: str, fmt: AdvertFormat, every: float,
                 bindkey: bytes | None = None, name: str | None = None) -> None:
        self.address = address.upper()
        self.fmt = fmt
        self.every = every
        self.bindkey = bindkey
        self.name = name


def signals(fmt: AdvertFormat, t: float, rng: random.Random) -> list[Measurement]:
    """Plausible indoor readings at time ``t`` (a slow 10-minute wave plus a little noise)."""
    wave = math.sin(2 * math.pi * t / 600)
    temperature = round(21.0 + 2.0 * wave + rng.gauss(0, 0.05), 2)
    humidity = round(45.0 - 5.0 * wave + rng.gauss(0, 0.2), 2)
    if fmt == "ruuvi":
        return [Measurement("temperature", temperature, "°C"),
                Measurement("humidity", humidity, "%"),
                Measurement("pressure", round(1013.25 + wave, 2), "hPa"),
                Measurement("voltage", 2.95, "V")]
    battery = Measurement("battery", 87, "%")
    if fmt in ("atc1441", "pvvx"):
        return [Measurement("temperature", round(temperature, 1 if fmt == "atc1441" else 2), "°C"),
                Measurement("humidity", round(humidity), "%"), battery,
                Measurement("voltage", 2.95, "V")]
    if fmt in ("xiaomi", "qingping", "govee"):  # 0.1 °C / 0.1 % formats
        return [Measurement("temperature", round(temperature, 1), "°C"),
                Measurement("humidity", round(humidity, 1), "%"), battery]
    return [battery, Measurement("temperature", temperature, "°C"),
            Measurement("humidity", humidity, "%")]


class SimulatedAdverts(AdvertSource):
    """A stand-in for an adapter: one task per simulated device, always up."""

    def __init__(self) -> None:
        super().__init__("simulated BLE")
        self._devices: dict[str, asyncio.Task[None]] = {}
        self._stack = contextlib.AsyncExitStack()
        self._tg: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._stack.callback(self._cancel_all)
        self.set_up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _cancel_all(self) -> None:
        for task in self._devices.values():
            task.cancel()

    def add(self, device: SimulatedDevice) -> None:
        """Start broadcasting as ``device`` (once per address)."""
        assert self._tg is not None
        if device.address not in self._devices:
            self._devices[device.address] = self._tg.create_task(
                self._broadcast(device), name=f"ble-sim[{device.address}]")

    async def _broadcast(self, device: SimulatedDevice) -> None:
        rng = random.Random(zlib.crc32(device.address.encode()))  # noqa: S311 - not crypto
        packet = rng.randrange(256)
        while True:
            advert = build_advert(device.fmt, device.address,
                                  signals(device.fmt, time.time(), rng), packet_id=packet,
                                  bindkey=device.bindkey, name=device.name,
                                  rssi=-55 - rng.randrange(20))
            self.dispatch(advert)
            packet += 1
            await asyncio.sleep(device.every)
