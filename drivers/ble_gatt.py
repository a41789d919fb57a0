"""GATT sensors: connect (bleak-retry-connector), then poll every ``interval`` or subscribe.

Out of the box: the Environmental Sensing Service's temperature (0x2A6E, sint16 0.01 °C),
humidity (0x2A6F, uint16 0.01 %) and pressure (0x2A6D, uint32 0.1 Pa, published in hPa), and
battery level (0x2A19, uint8 %) wherever the device has them. Custom characteristics by UUID
with a ``struct`` format, scale, offset and unit. The device is found through the adapter's
shared scanner (never a scan of its own); a lost connection raises, and the supervisor
reconnects with its capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.ble_decoders import uuid16
from gateway.sdk import DecodeError, DeviceUnavailable, Driver, Measurement

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.device import BLEDevice

    from drivers.ble import BleConfig
    from drivers.ble_source import AdapterScanner

__all__ = ["STANDARD", "CharSpec", "GattDriver", "check_format", "normalize_uuid", "plan"]

_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID16 = re.compile(r"^(0x)?[0-9a-f]{4}$")


def normalize_uuid(value: str) -> str:
    """``"2A6E"``, ``"0x2a6e"`` or a 128-bit UUID -> the lowercase 128-bit form bleak uses."""
    text = value.strip().lower()
    if _UUID16.match(text):
        return uuid16(int(text.removeprefix("0x"), 16))
    if _UUID128.match(text):
        return text
    raise ValueError("must be a 16-bit UUID like '2a6e' or a 128-bit UUID")


def check_format(fmt: str) -> None:
    """``ValueError`` unless ``fmt`` is a struct format giving exactly one number."""
    try:
        count = len(struct.unpack(fmt, bytes(struct.calcsize(fmt))))
    except struct.error as exc:
        raise ValueError(f"not a struct format: {exc}") from None
    if count != 1 or fmt.rstrip()[-1:] in ("s", "p", "x", "?"):
        raise ValueError("must give exactly one number, e.g. '<h' or '<I'")


@dataclass(frozen=True, slots=True)
class CharSpec:
    """How one characteristic's bytes become one measurement: ``raw * scale + offset``."""

    uuid: str
    name: str
    fmt: str
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    def measurement(self, data: bytes) -> Measurement:
        """Decode one value (pure); DecodeError on a wrong length."""
        size = struct.calcsize(self.fmt)
        if len(data) < size:
            raise DecodeError(f"{self.name}: expected {size} bytes, got {len(data)}")
        (raw,) = struct.unpack_from(self.fmt, data)
        value = raw * self.scale + self.offset
        return Measurement(self.name, round(value, 10), self.unit)


STANDARD: dict[str, CharSpec] = {
    spec.uuid: spec for spec in (
        CharSpec(uuid16(0x2A6E), "temperature", "<h", 0.01, unit="°C"),
        CharSpec(uuid16(0x2A6F), "humidity", "<H", 0.01, unit="%"),
        CharSpec(uuid16(0x2A6D), "pressure", "<I", 0.001, unit="hPa"),
        CharSpec(uuid16(0x2A19), "battery", "<B", 1.0, unit="%"),
    )
}
"""The characteristics read wherever a device has them (``standard = true``)."""


def plan(available: Iterable[str], config: BleConfig) -> list[CharSpec]:
    """The characteristics to read: configured custom ones, then the standard ones present."""
    present = set(available)
    custom = [CharSpec(c.uuid, c.name, c.format, c.scale, c.offset, c.unit)
              for c in config.characteristics]
    missing = [c.uuid for c in custom if c.uuid not in present]
    if missing:
        raise DeviceUnavailable(f"the device has no characteristic {', '.join(missing)}")
    taken = {c.uuid for c in custom}
    standard = [s for u, s in STANDARD.items() if config.standard and u in present
                and u not in taken]
    return custom + standard


def _char_uuids(client: BleakClient) -> list[str]:
    return [c.uuid.lower() for s in client.services for c in s.characteristics]


class GattDriver(Driver["BleConfig"]):
    async def run(self) -> None:
        from drivers.ble import open_source  # noqa: PLC0415

        async with open_source(self.ctx, self.config) as scanner:
            device = await scanner_of(scanner).wait_for_device(self.config.address,
                                                   self.config.connect_timeout)
            disconnected = asyncio.Event()
            async with _connected(device, self.config, disconnected.set) as client:
                specs = plan(_char_uuids(client), self.config)
                if not specs:
                    raise DeviceUnavailable("none of the known characteristics is on the device")
                self.ctx.log.info("connected; reading %s", ", ".join(s.name for s in specs))
                await self._read_all(client, specs)
                if self.config.notify:
                    await self._subscribe(client, specs)
                await self._serve(client, specs, disconnected)

    async def _serve(self, client: BleakClient, specs: Sequence[CharSpec],
                     disconnected: asyncio.Event) -> None:
        """Poll (or just wait, with notifications) until the connection is lost."""
        interval = self.config.poll_interval()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if self.config.notify else interval):
                    await disconnected.wait()
            if disconnected.is_set():
                raise DeviceUnavailable("disconnected")
            await self._read_all(client, specs)

    async def _read_all(self, client: BleakClient, specs: Sequence[CharSpec]) -> None:
        from bleak.exc import BleakError  # noqa: PLC0415

        readings: list[Measurement] = []
        for spec in specs:
            try:
                data = await client.read_gatt_char(spec.uuid)
            except (BleakError, EOFError, OSError) as exc:
                raise DeviceUnavailable(f"reading {spec.name} failed: {exc}") from exc
            self._decode_into(readings, spec, bytes(data))
        if readings:
            self.ctx.emit(readings)

    def _decode_into(self, readings: list[Measurement], spec: CharSpec, data: bytes) -> None:
        try:
            readings.append(spec.measurement(data))
        except DecodeError as exc:
            self.ctx.count_error(exc.kind, str(exc))

    async def _subscribe(self, client: BleakClient, specs: Sequence[CharSpec]) -> None:
        for spec in specs:
            await client.start_notify(spec.uuid, self._on_notify(spec))

    def _on_notify(self, spec: CharSpec) -> Callable[[Any, bytearray], None]:
        def handler(_: Any, data: bytearray) -> None:  # noqa: ANN401 - bleak's characteristic
            readings: list[Measurement] = []
            self._decode_into(readings, spec, bytes(data))
            if readings:
                self.ctx.emit(readings)
        return handler


@contextlib.asynccontextmanager
async def _connected(device: BLEDevice, config: BleConfig,
                     on_disconnect: Callable[[], None]) -> AsyncIterator[BleakClient]:
    from bleak.exc import BleakError  # noqa: PLC0415 - bleak only when a GATT device runs
    from bleak_retry_connector import (  # noqa: PLC0415
        BleakClientWithServiceCache,
        establish_connection,
    )

    limit = 3 * config.connect_timeout
    try:
        async with asyncio.timeout(limit):
            client = await establish_connection(
                BleakClientWithServiceCache, device, config.id,
                disconnected_callback=lambda _: on_disconnect(), max_attempts=3,
                timeout=config.connect_timeout)
    except TimeoutError:
        raise DeviceUnavailable(f"cannot connect to {config.address}: no connection "
                                f"within {limit:g}s") from None
    except (BleakError, EOFError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DeviceUnavailable(f"cannot connect to {config.address}: {reason}") from exc
    try:
        yield client
    finally:
        with contextlib.suppress(BleakError, EOFError, OSError, TimeoutError):
            async with asyncio.timeout(10):
                await client.disconnect()


def scanner_of(source: object) -> AdapterScanner:
    from drivers.ble_source import AdapterScanner  # noqa: PLC0415

    assert isinstance(source, AdapterScanner)
    return source
