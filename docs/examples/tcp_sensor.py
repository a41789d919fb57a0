"""An example driver kind for sensor-gateway: a sensor that answers over TCP.

The device (an ESP32 sketch, a serial sensor behind a ser2net bridge...) listens on a TCP port;
for each ``READ`` line it receives it answers one line of ``name=value`` pairs, e.g.
``temperature=21.5 humidity=40.1``. The gateway asks every ``interval`` seconds::

    [[devices]]
    id = "shed"
    driver = "tcp-sensor"
    host = "192.168.1.50"
    port = 7000
    interval = 10
    units = { temperature = "°C", humidity = "%" }

Registered by an entry point in the package's pyproject.toml::

    [project.entry-points."sensor_gateway.drivers"]
    tcp-sensor = "tcp_sensor"

This file is the worked example of the docs ("Writing a driver"); the test suite registers it
through a real entry point and runs it in the real daemon, so the page cannot go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from pydantic import Field

from gateway.sdk import (
    DecodeError,
    DeviceConfig,
    DeviceContext,
    DeviceModel,
    DeviceUnavailable,
    Measurement,
    PolledDriver,
)

__all__ = ["CONFIG", "TcpSensorConfig", "TcpSensorDriver", "create", "parse_line"]

MAX_LINE = 1024  # a longer answer is garbage, not a reason to use more memory


class TcpSensorConfig(DeviceConfig):
    """``driver = "tcp-sensor"``: the keys of one device. Unknown keys are errors (the base
    forbids them), and each ``description`` shows in the generated configuration reference."""

    driver: Literal["tcp-sensor"] = "tcp-sensor"
    host: str = Field(min_length=1, description="The sensor's host name or address.")
    port: int = Field(ge=1, le=65535, description="The sensor's TCP port.")
    command: str = Field("READ", min_length=1, description="The line that asks for a reading.")
    read_timeout: float = Field(2.0, gt=0, description="Seconds the sensor has to answer.")
    units: dict[str, str] = Field(default_factory=dict,
                                  description="The unit of each value, by name.")

    def device_model(self) -> DeviceModel:
        """What Home Assistant shows as the device's model."""
        return DeviceModel(manufacturer=None, model=f"TCP sensor at {self.host}")


def parse_line(line: bytes, units: dict[str, str]) -> list[Measurement]:
    """``temperature=21.5 humidity=40.1`` -> measurements; DecodeError for anything else."""
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DecodeError("not ASCII", kind="garbage") from None
    readings = []
    for pair in text.split():
        name, sep, value = pair.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not math.isfinite(number):
            raise DecodeError(f"not a name=number pair: {pair[:40]!r}", kind="garbage")
        readings.append(Measurement(name, number, units.get(name)))
    if not readings:
        raise DecodeError("empty answer", kind="garbage")
    return readings


class TcpSensorDriver(PolledDriver[TcpSensorConfig]):
    """Polled: ``session()`` opens the connection once, ``read()`` runs every ``interval``."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def session(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._connected()

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[object]:
        where = f"{self.config.host}:{self.config.port}"
        try:
            async with asyncio.timeout(self.config.read_timeout):
                self.reader, self.writer = await asyncio.open_connection(
                    self.config.host, self.config.port, limit=MAX_LINE)
        except (OSError, TimeoutError) as exc:  # the supervisor retries with backoff
            raise DeviceUnavailable(f"cannot connect to {where}: {exc or 'timed out'}") from None
        try:
            yield self.writer
        finally:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def read(self) -> Sequence[Measurement]:
        try:
            line = await self._ask()
            return parse_line(line, self.config.units)
        except DecodeError as exc:  # bad input is counted and skipped, never published
            self.ctx.count_error(exc.kind, str(exc))
            return []

    async def _ask(self) -> bytes:
        self.writer.write(self.config.command.encode() + b"\n")
        try:
            async with asyncio.timeout(self.config.read_timeout):
                line = await self.reader.readline()
        except TimeoutError:  # a late answer would come out of step: connect again
            raise DeviceUnavailable(f"no answer within {self.config.read_timeout}s") from None
        except (OSError, ValueError) as exc:  # reset, or a line longer than MAX_LINE
            raise DeviceUnavailable(f"connection lost: {exc}") from None
        if not line:
            raise DeviceUnavailable("the sensor closed the connection")
        return line


CONFIG = TcpSensorConfig


def create(config: TcpSensorConfig, ctx: DeviceContext) -> TcpSensorDriver:
    return TcpSensorDriver(config, ctx)
