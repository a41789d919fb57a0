"""Simulated serial devices on pseudo-terminals: ``sensor-gateway simulate serial``.

Each simulator speaks one protocol on the device side of a :class:`~drivers.serial.pty.PtyPort`
with realistic, slowly wandering values, optional garbage between frames and optional dropouts
(the port vanishes and comes back at the same path, like a pulled USB cable). The test suite uses
the same simulators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.serial.protocols import (
    encode_csv_line,
    encode_gga,
    encode_json_line,
    encode_kv_line,
    encode_mhz19_response,
    encode_pms5003,
    encode_rmc,
    encode_sds011,
    garbage,
    mhz19_read_command,
)
from drivers.serial.protocols._modbus import encode_registers
from drivers.serial.pty import PtyPort, wait_readable
from gateway.sdk import ticks

__all__ = ["MODBUS_REGISTERS", "PROTOCOLS", "REGEX_PATTERN", "SerialSimulator", "make_traffic"]

log = logging.getLogger("gateway.simulate")

Values = dict[str, float]

REGEX_PATTERN = r"T:(?P<temperature>-?[\d.]+)C H:(?P<humidity>[\d.]+)%"

# The simulated Modbus meter (unit 1 by default): what a config's `registers` should say.
MODBUS_REGISTERS: list[dict[str, Any]] = [
    {"name": "voltage", "address": 0, "function": "input", "type": "float32", "unit": "V"},
    {"name": "current", "address": 2, "function": "input", "type": "float32", "unit": "A"},
    {"name": "power", "address": 4, "function": "input", "type": "int16", "unit": "W"},
    {"name": "energy", "address": 0, "function": "holding", "type": "uint32", "scale": 0.01,
     "unit": "kWh"},
]


@dataclass
class Walk:
    """A value wandering inside [lo, hi] by at most ``step`` per sample."""

    value: float
    step: float
    lo: float
    hi: float
    decimals: int = 2

    def next(self, rng: random.Random) -> float:
        self.value = min(self.hi, max(self.lo, self.value + rng.uniform(-self.step, self.step)))
        return round(self.value, self.decimals)


@dataclass
class Traffic(ABC):
    """What one protocol's device sends. ``sent`` keeps the values of recent frames."""

    rng: random.Random
    sent: deque[Values] = field(default_factory=lambda: deque(maxlen=10_000))

    def hello(self) -> bytes:
        """Bytes sent once after every (re)plug (a CSV header, say)."""
        return b""

    def frame(self) -> bytes:
        values = self.values()
        self.sent.append(values)
        return self.encode(values)

    @abstractmethod
    def values(self) -> Values: ...

    @abstractmethod
    def encode(self, values: Values) -> bytes: ...


@dataclass
class _Climate(Traffic):
    temperature: Walk = field(default_factory=lambda: Walk(21.5, 0.05, 15, 30))
    humidity: Walk = field(default_factory=lambda: Walk(45.0, 0.2, 20, 80))

    def values(self) -> Values:
        return {"temperature": self.temperature.next(self.rng),
                "humidity": self.humidity.next(self.rng)}


class JsonTraffic(_Climate):
    def encode(self, values: Values) -> bytes:
        return encode_json_line(values) + b"\n"


class CsvTraffic(_Climate):
    """A logger that repeats its header line every 10 rows (a reader may join at any time)."""

    def hello(self) -> bytes:
        return encode_csv_line(["temperature", "humidity"]) + b"\n"

    def encode(self, values: Values) -> bytes:
        header = self.hello() if len(self.sent) % 10 == 1 else b""
        return header + encode_csv_line([values["temperature"], values["humidity"]]) + b"\n"


class KvTraffic(_Climate):
    def encode(self, values: Values) -> bytes:
        return encode_kv_line(values) + b"\r\n"


class RegexTraffic(_Climate):
    def encode(self, values: Values) -> bytes:
        return f"T:{values['temperature']:.2f}C H:{values['humidity']:.2f}%\n".encode()


@dataclass
class Pms5003Traffic(Traffic):
    pm: Walk = field(default_factory=lambda: Walk(12, 2, 0, 300, 0))

    def values(self) -> Values:
        pm2_5 = self.pm.next(self.rng)
        return {"pm1_0": round(pm2_5 * 0.7), "pm2_5": pm2_5, "pm10": round(pm2_5 * 1.3),
                "particles_0_3um": round(pm2_5 * 150)}

    def encode(self, values: Values) -> bytes:
        counts = [int(values["particles_0_3um"]), 300, 60, 8, 2, 1]
        return encode_pms5003(int(values["pm1_0"]), int(values["pm2_5"]), int(values["pm10"]),
                              particles=counts)


@dataclass
class Sds011Traffic(Traffic):
    pm: Walk = field(default_factory=lambda: Walk(9.0, 0.8, 0, 500, 1))

    def values(self) -> Values:
        pm2_5 = self.pm.next(self.rng)
        return {"pm2_5": pm2_5, "pm10": round(pm2_5 * 1.6, 1)}

    def encode(self, values: Values) -> bytes:
        return encode_sds011(values["pm2_5"], values["pm10"])


@dataclass
class NmeaTraffic(Traffic):
    lat: Walk = field(default_factory=lambda: Walk(52.520008, 0.00005, -90, 90, 6))
    lon: Walk = field(default_factory=lambda: Walk(13.404954, 0.00005, -180, 180, 6))
    alt: Walk = field(default_factory=lambda: Walk(34.0, 0.3, -10, 500, 1))

    def values(self) -> Values:
        return {"latitude": self.lat.next(self.rng), "longitude": self.lon.next(self.rng),
                "altitude": self.alt.next(self.rng), "satellites": self.rng.randint(6, 12),
                "speed": round(self.rng.uniform(0, 5), 1)}

    def encode(self, values: Values) -> bytes:
        lat, lon = values["latitude"], values["longitude"]
        gga = encode_gga(lat, lon, altitude=values["altitude"],
                         satellites=int(values["satellites"]))
        return gga + b"\r\n" + encode_rmc(lat, lon, speed_kmh=values["speed"]) + b"\r\n"


@dataclass
class Mhz19Traffic(Traffic):
    co2: Walk = field(default_factory=lambda: Walk(650, 15, 400, 5000, 0))

    def values(self) -> Values:
        return {"co2": self.co2.next(self.rng), "temperature": 23}

    def encode(self, values: Values) -> bytes:
        return encode_mhz19_response(int(values["co2"]), int(values["temperature"]))


@dataclass
class ModbusTraffic(Traffic):
    voltage: Walk = field(default_factory=lambda: Walk(230.0, 0.5, 210, 250, 1))
    current: Walk = field(default_factory=lambda: Walk(1.5, 0.1, 0, 16, 2))
    energy: float = 1234.56

    def values(self) -> Values:
        voltage, current = self.voltage.next(self.rng), self.current.next(self.rng)
        power = round(voltage * current)
        self.energy = round(self.energy + power / 3_600_000, 2)
        return {"voltage": voltage, "current": current, "power": power, "energy": self.energy}

    last_sample: float = float("-inf")

    def encode(self, values: Values) -> bytes:  # registers are served, not streamed
        return b""

    def sample(self, window: float = 0.25) -> Values:
        """The meter's values now: one new sample per poll cycle (several reads in a window)."""
        now = time.monotonic()
        if now - self.last_sample > window or not self.sent:
            self.sent.append(self.values())
            self.last_sample = now
        return self.sent[-1]

    def registers(self, values: Values) -> dict[int, dict[int, int]]:
        """function code -> address -> register value."""
        words = {
            4: [*encode_registers(values["voltage"], "float32"),
                *encode_registers(values["current"], "float32"),
                *encode_registers(values["power"], "int16")],
            3: encode_registers(values["energy"] * 100, "uint32"),
        }
        return {fc: dict(enumerate(regs)) for fc, regs in words.items()}


LINE_PROTOCOLS = frozenset({"json", "csv", "kv", "regex", "nmea"})

PROTOCOLS: dict[str, type[Traffic]] = {
    "json": JsonTraffic, "csv": CsvTraffic, "kv": KvTraffic, "regex": RegexTraffic,
    "pms5003": Pms5003Traffic, "sds011": Sds011Traffic, "nmea": NmeaTraffic,
    "mhz19": Mhz19Traffic, "modbus": ModbusTraffic,
}


def make_traffic(protocol: str, seed: int | None = None) -> Traffic:
    return PROTOCOLS[protocol](random.Random(seed))  # noqa: S311 - simulation


class SerialSimulator:
    """One simulated device on a pty at ``link``. ``run()`` until cancelled.

    ``rate``: frames per second (streaming protocols); ``garbage``: probability of a burst of
    random bytes before a frame; ``dropout``: ``(every, duration)`` seconds to unplug for;
    ``unit``: the Modbus slave id(s) answering on this bus (each a meter with the same map).
    """

    def __init__(
        self, protocol: str, link: Path | None = None, *, rate: float = 1.0, garbage: float = 0.0,
        dropout: tuple[float, float] | None = None, seed: int | None = None,
        unit: int | Sequence[int] = 1,
    ) -> None:
        self.protocol = protocol
        self.traffic = make_traffic(protocol, seed)
        self.port = PtyPort(link)
        self.rate = rate
        self.garbage = garbage
        self.dropout = dropout
        self.units = (unit,) if isinstance(unit, int) else tuple(unit)  # Modbus slaves served
        self.unit = self.units[0]
        self.frames = 0
        self.silent = False  # True: still plugged in, but says nothing (a hung device)
        self._rng = random.Random(seed)  # noqa: S311 - simulation

    @property
    def link(self) -> Path:
        return self.port.link

    async def __aenter__(self) -> SerialSimulator:
        self.port.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.port.close()

    def unplug(self) -> None:
        self.port.unplug()

    def replug(self) -> None:
        self.port.plug()
        self.port.write(self.traffic.hello())

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.dropout:
                tg.create_task(self._dropouts(*self.dropout), name="simulate.dropouts")
            if self.protocol == "modbus":
                tg.create_task(self._serve_modbus(), name="simulate.modbus")
            elif self.protocol == "mhz19":
                tg.create_task(self._answer(), name="simulate.mhz19")
            else:
                tg.create_task(self._stream(), name="simulate.stream")

    async def _stream(self) -> None:
        self.port.write(self.traffic.hello())
        async for _ in ticks(1 / self.rate):
            if self.silent or not self.port.plugged:
                continue
            if self.garbage and self._rng.random() < self.garbage:
                self.port.write(self._noise())
            self.port.write(self.traffic.frame())
            self.frames += 1

    def _noise(self) -> bytes:
        """Random bytes; on a line protocol a whole garbage line (noise that ends a line)."""
        noise = garbage(self._rng, self._rng.randint(1, 40))
        if self.protocol in LINE_PROTOCOLS:
            return noise.replace(b"\n", b"") + b"\n"
        return noise

    async def _answer(self) -> None:
        """MH-Z19: answer every read command with a response frame."""
        command, pending = mhz19_read_command(), b""
        while True:
            await wait_readable(self.port)
            pending = (pending + self.port.read())[-64:]
            while command in pending:
                pending = pending.split(command, 1)[1]
                if self.garbage and self._rng.random() < self.garbage:
                    self.port.write(garbage(self._rng, self._rng.randint(1, 12)))
                self.port.write(self.traffic.frame())
                self.frames += 1

    async def _dropouts(self, every: float, duration: float) -> None:
        while True:
            await asyncio.sleep(every)
            log.info("dropout: unplugging %s for %.1fs", self.link, duration)
            self.unplug()
            await asyncio.sleep(duration)
            self.replug()

    async def _serve_modbus(self) -> None:
        async with _modbus_server(self) as server:
            await server.serve_forever()


@contextlib.asynccontextmanager
async def _modbus_server(sim: SerialSimulator) -> AsyncIterator[Any]:
    """A pymodbus RTU slave on a second pty, bridged byte for byte to the simulator's port."""
    from pymodbus import FramerType  # noqa: PLC0415 - only for the Modbus simulator
    from pymodbus.server import ModbusSerialServer  # noqa: PLC0415

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    with PtyPort() as inner:
        server = ModbusSerialServer(_sim_device(sim), framer=FramerType.RTU,
                                    port=str(inner.link), baudrate=9600)
        bridge = asyncio.create_task(_bridge(sim.port, inner), name="simulate.modbus-bridge")
        try:
            yield server
        finally:
            bridge.cancel()
            await server.shutdown()  # type: ignore[no-untyped-call]


async def _bridge(outer: PtyPort, inner: PtyPort) -> None:
    while True:
        await wait_readable(outer, inner)
        if outer.plugged:
            inner.write(outer.read())
            outer.write(inner.read())
        else:
            inner.read()


def _sim_device(sim: SerialSimulator) -> Any:  # noqa: ANN401 - pymodbus' untyped SimDevice
    from pymodbus.simulator import DataType, SimData, SimDevice  # noqa: PLC0415

    traffic = sim.traffic
    assert isinstance(traffic, ModbusTraffic)

    # The signature is pymodbus's SimDevice action callback.
    async def action(  # noqa: PLR0917
        function_code: int, start_address: int, address: int, count: int,
        current_registers: list[int], set_values: Any,  # noqa: ANN401
    ) -> None:
        values = traffic.sample()
        table = traffic.registers(values).get(function_code, {})
        for i in range(len(current_registers)):
            current_registers[i] = table.get(start_address + i, 0)

    def block(count: int) -> list[Any]:
        return [SimData(0, count=count, values=0, datatype=DataType.REGISTERS)]

    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    return [SimDevice(unit, simdata=(bits, bits, block(16), block(16)), action=action)
            for unit in sim.units]
