"""Serial devices: line protocols, particulate/CO2/GPS sensors and Modbus RTU on a UART.

Streaming protocols (``json``, ``csv``, ``kv``, ``regex``, ``pms5003``, ``sds011``, ``nmea``)
publish every decoded frame; an optional ``interval`` caps each sensor's publish rate. Polled
protocols (``mhz19``, ``modbus``) read every ``interval`` (default 1 s). Several Modbus devices
may share one RS-485 port: one connection per port, requests serialised on the bus.

pyserial-asyncio-fast and pymodbus are imported only when a serial device runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Self

from drivers.serial.access import open_failure, probe_open, reason
from drivers.serial.config import SerialConfig
from drivers.serial.protocols import (
    MHZ19,
    PMS5003,
    SDS011,
    BinaryFramer,
    CsvLineDecoder,
    FrameResult,
    JsonLineDecoder,
    KvLineDecoder,
    LineFramer,
    RegexLineDecoder,
    decode_nmea,
    mhz19_read_command,
)
from drivers.serial.protocols._modbus import ReadBlock, plan_reads
from gateway.sdk import (
    DecodeError,
    DeviceUnavailable,
    Driver,
    ticks,
)

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient

__all__ = ["ModbusBus", "SerialDriver", "make_framer", "open_port"]

def make_framer(config: SerialConfig) -> BinaryFramer | LineFramer:  # noqa: PLR0911 - a table
    """The framer and decoder for a streaming (or mhz19) protocol."""
    options = config.field_options()
    match config.protocol:
        case "pms5003":
            return BinaryFramer(PMS5003)
        case "sds011":
            return BinaryFramer(SDS011)
        case "mhz19":
            return BinaryFramer(MHZ19)
        case "nmea":
            return LineFramer(decode_nmea, config.max_line_length)
        case "json":
            return LineFramer(JsonLineDecoder(options).decode, config.max_line_length)
        case "csv":
            csv = CsvLineDecoder(config.fields, config.delimiter, options)
            return LineFramer(csv.decode, config.max_line_length)
        case "kv":
            kv = KvLineDecoder(options, config.pair_separator, config.kv_separator)
            return LineFramer(kv.decode, config.max_line_length)
        case "regex":
            assert config.pattern is not None
            return LineFramer(RegexLineDecoder(config.pattern, options).decode,
                              config.max_line_length)
    raise ValueError(f"not a framed protocol: {config.protocol}")


@contextlib.asynccontextmanager
async def open_port(
    config: SerialConfig,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """The port as asyncio streams; DeviceUnavailable when it is not there."""
    import serial  # noqa: PLC0415 - serial stack only when a serial device runs
    import serial_asyncio_fast  # noqa: PLC0415

    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=config.port, baudrate=config.baudrate, bytesize=config.bytesize,
            parity=config.parity, stopbits=config.stopbits,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceUnavailable(f"cannot open {config.port}: {open_failure(config.port, exc)}") \
            from exc
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def read_chunk(reader: asyncio.StreamReader, port: str) -> bytes:
    """Some bytes from the port; DeviceUnavailable when it went away."""
    import serial  # noqa: PLC0415

    try:
        data = await reader.read(4096)
    except (serial.SerialException, OSError) as exc:
        raise DeviceUnavailable(f"{port} went away: {reason(exc)}") from exc
    if not data:
        raise DeviceUnavailable(f"{port} closed")
    return data


class SerialDriver(Driver[SerialConfig]):
    def _handle(self, results: list[FrameResult]) -> int:
        """Emit good frames, count bad ones; return how many good frames there were."""
        good = 0
        for result in results:
            if isinstance(result, DecodeError):
                self.ctx.count_error(result.kind, str(result))
            elif result:
                self.ctx.emit(result)
                good += 1
        return good

    async def run(self) -> None:
        if self.config.protocol == "modbus":
            await self._run_modbus()
            return
        async with open_port(self.config) as (reader, writer):
            self.ctx.log.info("opened %s at %d baud (%s)", self.config.port,
                              self.config.baudrate, self.config.protocol)
            if self.config.protocol == "mhz19":
                await self._poll_mhz19(reader, writer)
            else:
                await self._stream(reader)

    async def _stream(self, reader: asyncio.StreamReader) -> None:
        framer = make_framer(self.config)
        while True:
            chunk = await read_chunk(reader, self.config.port)
            if self.ctx.shedding:  # overload: dropped before decoding (a line, or a chunk)
                self.ctx.skipped(chunk.count(b"\n") or 1)
                framer = make_framer(self.config)  # a frame cut here is not resumed
                continue
            self._handle(framer.feed(chunk))

    async def _poll_mhz19(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = make_framer(self.config)
        command = mhz19_read_command()
        async for _ in ticks(self.config.poll_interval(), self.ctx):
            writer.write(command)
            try:
                async with asyncio.timeout(self.config.read_timeout):
                    while not self._handle(framer.feed(await read_chunk(reader, self.config.port))):
                        pass
            except TimeoutError:
                self.ctx.count_error("timeout", f"no answer within {self.config.read_timeout}s")

    async def _run_modbus(self) -> None:
        key = ("modbus", self.config.port)
        blocks = plan_reads([r.spec() for r in self.config.registers])
        async with self.ctx.shared(key, lambda: ModbusBus(self.config)) as bus:
            bus.check_settings(self.config, self.ctx.log)
            async for _ in ticks(self.config.poll_interval(), self.ctx):
                await self._poll_modbus(bus, blocks)

    async def _poll_modbus(self, bus: ModbusBus, blocks: Sequence[ReadBlock]) -> None:
        assert self.config.unit is not None
        readings = []
        for block in blocks:
            try:
                words = await bus.read(block.function, block.address, block.count, self.config.unit)
                readings.extend(block.measurements(words))
            except DecodeError as exc:
                self.ctx.count_error(exc.kind, str(exc))
        if readings:
            self.ctx.emit(readings)


class ModbusBus:
    """One RS-485 port shared by the Modbus devices on it; one request at a time."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        self.lock = asyncio.Lock()
        self.client: AsyncModbusSerialClient | None = None

    async def __aenter__(self) -> Self:
        from pymodbus import FramerType  # noqa: PLC0415 - pymodbus only when Modbus runs
        from pymodbus.client import AsyncModbusSerialClient  # noqa: PLC0415

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its own retries are noisy
        c = self.config
        self.client = AsyncModbusSerialClient(
            c.port, framer=FramerType.RTU, baudrate=c.baudrate, bytesize=c.bytesize,
            parity=c.parity, stopbits=int(c.stopbits), timeout=c.read_timeout, retries=1,
            reconnect_delay=0,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    def check_settings(self, config: SerialConfig, device_log: logging.LoggerAdapter[Any]) -> None:
        mine = (self.config.baudrate, self.config.parity, self.config.bytesize,
                self.config.stopbits)
        theirs = (config.baudrate, config.parity, config.bytesize, config.stopbits)
        if mine != theirs:
            device_log.warning("%s is already open with %s; this device's %s are ignored",
                               config.port, mine, theirs)

    async def read(self, function: str, address: int, count: int, unit: int) -> list[int]:
        """Registers from one device; DeviceUnavailable if the port is gone, DecodeError if the
        device does not answer or answers with an exception."""
        from pymodbus.exceptions import ModbusException  # noqa: PLC0415

        assert self.client is not None
        async with self.lock:
            await self._connect()
            call = (self.client.read_holding_registers if function == "holding"
                    else self.client.read_input_registers)
            request = asyncio.ensure_future(call(address, count=count, device_id=unit))
            try:
                response = await asyncio.shield(request)
            except asyncio.CancelledError:
                await self._finish(request)
                raise
            except ModbusException as exc:
                if not self.client.connected:
                    raise DeviceUnavailable(f"{self.config.port}: {exc}") from exc
                raise DecodeError(f"unit {unit}: no valid answer ({exc})", kind="timeout") from exc
        if response.isError():
            raise DecodeError(f"unit {unit}: exception response {response}", kind="modbus_error")
        return list(response.registers)

    async def _finish(self, request: asyncio.Future[Any]) -> None:
        """This device is restarted or stopped in the middle of a request. Cancelling pymodbus
        there leaves its transaction state broken for the other devices on the bus, and the
        answer may still arrive and be taken for the next device's: let the request end (its
        own timeout bounds it) while this device still holds the bus; if it does not end in
        time, the next request starts on a fresh connection."""
        assert self.client is not None
        bound = self.config.read_timeout * 2 + 1.0  # pymodbus: timeout, one retry
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(bound):
                await request
        if not request.done():
            request.cancel()
            self.client.close()
        elif not request.cancelled():
            request.exception()  # retrieved: the caller is going away, its failure is moot

    async def _connect(self) -> None:
        assert self.client is not None
        if self.client.connected:
            return
        if not await self.client.connect():
            why = probe_open(self.config.port)
            raise DeviceUnavailable(f"cannot open {self.config.port}" + (f": {why}" if why else ""))

