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
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from drivers.ble.characteristics import STANDARD, CharSpec
from drivers.ble.shared import open_source
from gateway.sdk import DecodeError, DeviceUnavailable, Driver, Measurement

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.device import BLEDevice

    from drivers.ble.config import BleConfig
    from drivers.ble.source import AdapterScanner

__all__ = ["GattDriver", "plan"]

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
    from drivers.ble.source import AdapterScanner  # noqa: PLC0415

    assert isinstance(source, AdapterScanner)
    return source
