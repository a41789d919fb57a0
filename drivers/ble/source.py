"""Where BLE advertisements come from: one source per adapter, dispatching by address.

:class:`AdvertSource` is the dispatch part every source shares: device drivers subscribe with
an address (``None``: everything, for ``scan ble``), and hear of the source going down and up.
:class:`AdapterScanner` is the real one: a single ``BleakScanner`` per adapter, supervised
(adapter missing, powered off, removed, wedged -> down, restart with capped backoff). The
simulated source lives in :mod:`drivers.ble.simulator`.

bleak and dbus-fast are imported only when a scanner starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol, Self

from drivers.ble.decoders import ATC_UUID, BTHOME_UUID, RUUVI_COMPANY_ID, Advert
from gateway.sdk import AdapterUnavailable, Backoff

if TYPE_CHECKING:
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData
    from dbus_fast.aio import MessageBus

__all__ = ["AdapterScanner", "AdvertSource", "ScannerOptions", "Subscriber", "describe_ble_error"]

log = logging.getLogger("drivers.ble")

DBUS_TIMEOUT = 5.0  # seconds for BlueZ to answer a call before it counts as hung
SYSTEM_BUS_DEFAULT = "unix:path=/run/dbus/system_bus_socket"
NO_DBUS_HINT = ("BLE needs BlueZ on the D-Bus system bus; on a machine without Bluetooth use "
                'adapter = "simulated"')


class Subscriber(Protocol):
    """A device driver listening to one address of a source."""

    def on_advert(self, advert: Advert) -> None: ...
    def on_down(self, reason: str) -> None: ...


class AdvertSource:
    """Dispatch of adverts by address, and the source's up/down state."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.up: bool | None = None  # None: not known yet (starting)
        self.reason = "starting"
        self.last_advert = time.monotonic()
        self.adverts = 0
        self._subscribers: dict[str | None, list[Subscriber]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @contextlib.contextmanager
    def subscribe(self, address: str | None, subscriber: Subscriber) -> Iterator[None]:
        """Adverts of ``address`` (upper case; ``None``: all) go to ``subscriber`` meanwhile."""
        key = address.upper() if address is not None else None
        self._subscribers.setdefault(key, []).append(subscriber)
        if self.up is False:
            subscriber.on_down(self.reason)
        try:
            yield
        finally:
            subs = self._subscribers[key]
            subs.remove(subscriber)
            if not subs:
                del self._subscribers[key]

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def wants(self, address: str) -> bool:
        """Is anyone listening to ``address`` (upper case)?"""
        return address in self._subscribers or None in self._subscribers

    def dispatch(self, advert: Advert) -> None:
        self.last_advert = time.monotonic()
        self.adverts += 1
        for key in (advert.address.upper(), None):
            for subscriber in self._subscribers.get(key, ()):
                try:
                    subscriber.on_advert(advert)
                except Exception:  # a bug in one device's handling must not stop the others
                    log.exception("%s: handling an advert of %s failed", self.name,
                                  advert.address)

    def set_up(self) -> None:
        if self.up is not True:
            log.info("%s: scanning", self.name)
        self.up = True
        self.reason = ""
        self.last_advert = time.monotonic()

    def set_down(self, reason: str) -> None:
        if self.up is not False or reason != self.reason:
            log.warning("%s: %s", self.name, reason)
        else:
            log.debug("%s: still down: %s", self.name, reason)
        self.up = False
        self.reason = reason
        for subs in list(self._subscribers.values()):
            for subscriber in list(subs):
                subscriber.on_down(reason)


class ScannerOptions:
    """Per-adapter scanner settings (from the first device on that adapter)."""

    def __init__(self, *, passive: bool = False, silence: float = 300.0,
                 probe_every: float = 2.0, retry_max: float = 10.0) -> None:
        self.passive = passive
        self.silence = silence
        self.probe_every = probe_every
        self.retry_max = retry_max


class AdapterScanner(AdvertSource):
    """One ``BleakScanner`` on one adapter, kept running whatever happens to the adapter.

    Down (subscribers told, scan restarted with backoff ``0.5 .. retry_max`` seconds) when the
    adapter is missing, powered off or removed (probed every ``probe_every`` seconds), when the
    scan cannot start (``InProgress``, no BlueZ, no D-Bus), or when no device at all was heard
    for ``silence`` seconds while devices are subscribed (a wedged adapter).
    """

    def __init__(self, adapter: str, options: ScannerOptions | None = None) -> None:
        super().__init__(f"BLE adapter {adapter}")
        self.adapter = adapter
        self.options = options or ScannerOptions()
        self.devices: dict[str, BLEDevice] = {}
        self._bleak: BleakScanner | None = None
        self._seen: dict[str, asyncio.Event] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        task = tg.create_task(self._supervise(), name=f"ble-scanner[{self.adapter}]")
        self._stack.callback(task.cancel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def wait_for_device(self, address: str, within: float) -> BLEDevice:
        """The ``BLEDevice`` last seen at ``address``; waits for one up to ``within`` s."""
        key = address.upper()
        known = self._bleak.discovered_devices_and_advertisement_data if self._bleak else {}
        for found, _ in known.values():
            if found.address.upper() == key:
                return found
        seen = self._seen.setdefault(key, asyncio.Event())
        try:
            async with asyncio.timeout(within):
                await seen.wait()
        except TimeoutError:
            state = "" if self.up else f" ({self.reason})"
            raise AdapterUnavailable(f"{address} not seen on {self.adapter} within "
                                     f"{within:g}s{state}") from None
        finally:
            self._seen.pop(key, None)
        device = self.devices.pop(key, None)
        if device is None:
            raise AdapterUnavailable(f"{address} vanished from {self.adapter}")
        return device

    # --- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = Backoff(0.5, self.options.retry_max)
        while True:
            try:
                await self._scan(backoff)
                reason = "scan ended"
            except AdapterUnavailable as exc:
                reason = str(exc)
            except Exception as exc:  # the scanner must outlive any failure
                reason = describe_ble_error(exc, self.adapter)
                if reason.startswith("unexpected"):
                    log.warning("%s: %s", self.name, reason, exc_info=exc)
            self.set_down(reason)
            delay = backoff.next_delay()
            log.debug("%s: next scan attempt in %.1fs", self.name, delay)
            await asyncio.sleep(delay)

    async def _scan(self, backoff: Backoff) -> None:
        async with _system_bus() as bus:
            await probe_adapter(bus, self.adapter)
            async with self._scanner():
                self.set_up()
                backoff.reset()
                await self._watch(bus)

    @contextlib.asynccontextmanager
    async def _scanner(self) -> AsyncIterator[None]:
        from bleak import BleakScanner  # noqa: PLC0415 - bleak only when a scanner runs

        # DuplicateData: BlueZ reports every advert, not only changed ones, so a sensor whose
        # readings do not change is still heard (the driver skips repeats cheaply).
        bluez: dict[str, Any] = {"adapter": self.adapter, "filters": {"DuplicateData": True}}
        if self.options.passive:
            bluez["or_patterns"] = _passive_patterns()
        scanner = BleakScanner(self._on_bleak_advert,
                               scanning_mode="passive" if self.options.passive else "active",
                               bluez=bluez)  # type: ignore[arg-type]
        try:
            async with asyncio.timeout(DBUS_TIMEOUT):
                await scanner.start()
        except TimeoutError:
            await _stop_quietly(scanner.stop)
            raise AdapterUnavailable(f"BlueZ did not start the scan on {self.adapter} within "
                                     f"{DBUS_TIMEOUT:g}s (bluetoothd hung?)") from None
        self._bleak = scanner
        try:
            yield
        finally:
            self._bleak = None
            self.devices.clear()
            await _stop_quietly(scanner.stop)

    async def _watch(self, bus: MessageBus) -> None:
        """Return never; raise AdapterUnavailable when the adapter is gone or silent."""
        silence = self.options.silence
        while True:
            await asyncio.sleep(self.options.probe_every)
            await probe_adapter(bus, self.adapter)
            quiet = time.monotonic() - self.last_advert
            if self.has_subscribers and quiet >= silence:
                hint = (" (passive scanning needs BlueZ >= 5.56 running with --experimental)"
                        if self.options.passive else "")
                raise AdapterUnavailable(
                    f"no advertisement from any device for {quiet:.0f}s (wedged?): "
                    f"restarting the scan{hint}")

    def _on_bleak_advert(self, device: BLEDevice, data: AdvertisementData) -> None:
        address = device.address.upper()
        seen = self._seen.get(address)
        if seen is not None:  # a GATT device waits for it (only those are kept: bounded)
            self.devices[address] = device
            seen.set()
        if self.wants(address):
            self.dispatch(Advert.from_bleak(address, data))
        else:
            self.last_advert = time.monotonic()  # somebody is there: the adapter works


async def _stop_quietly(stop: Any) -> None:  # noqa: ANN401 - bleak's stop coroutine function
    """Stop a scan whose adapter may be gone already (UnknownObject): log, never raise."""
    try:
        async with asyncio.timeout(DBUS_TIMEOUT):
            await stop()
    except Exception as exc:  # noqa: BLE001 - the adapter may have vanished under it
        log.debug("stopping the scan failed (adapter gone?): %r", exc)


def _passive_patterns() -> list[Any]:
    """Advertisement monitor patterns for the formats we decode (BlueZ passive scanning)."""
    from bleak.args.bluez import OrPattern  # noqa: PLC0415
    from bleak.assigned_numbers import AdvertisementDataType  # noqa: PLC0415

    uuid16 = AdvertisementDataType.SERVICE_DATA_UUID16
    return [
        OrPattern(0, uuid16, int(BTHOME_UUID[4:8], 16).to_bytes(2, "little")),
        OrPattern(0, uuid16, int(ATC_UUID[4:8], 16).to_bytes(2, "little")),
        OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA,
                  RUUVI_COMPANY_ID.to_bytes(2, "little")),
    ]


# --- D-Bus ----------------------------------------------------------------------------------


def system_bus_address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", SYSTEM_BUS_DEFAULT)


@contextlib.asynccontextmanager
async def _system_bus() -> AsyncIterator[MessageBus]:
    from dbus_fast import BusType  # noqa: PLC0415 - D-Bus only when a scanner runs
    from dbus_fast.aio import MessageBus  # noqa: PLC0415

    try:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except (OSError, EOFError) as exc:
        raise AdapterUnavailable(
            f"no D-Bus system bus at {system_bus_address()} ({exc.__class__.__name__}): "
            + NO_DBUS_HINT) from exc
    try:
        yield bus
    finally:
        bus.disconnect()


async def probe_adapter(bus: MessageBus, adapter: str) -> None:
    """AdapterUnavailable unless BlueZ runs and ``adapter`` exists and is powered."""
    from dbus_fast import Message, MessageType  # noqa: PLC0415

    try:
        async with asyncio.timeout(DBUS_TIMEOUT):
            reply = await bus.call(Message(
                destination="org.bluez", path=f"/org/bluez/{adapter}",
                interface="org.freedesktop.DBus.Properties", member="Get", signature="ss",
                body=["org.bluez.Adapter1", "Powered"]))
    except TimeoutError:
        raise AdapterUnavailable(
            f"BlueZ did not answer within {DBUS_TIMEOUT:g}s (bluetoothd hung?)") from None
    if reply is None:
        raise AdapterUnavailable(f"no answer from BlueZ about {adapter}")
    if reply.message_type == MessageType.ERROR:
        raise AdapterUnavailable(_dbus_error_reason(str(reply.error_name), adapter))
    if not reply.body[0].value:
        raise AdapterUnavailable(f"adapter {adapter} is powered off")


def _dbus_error_reason(name: str, adapter: str) -> str:
    if name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner"):
        return "BlueZ (bluetoothd) is not running on the system bus"
    if name == "org.freedesktop.DBus.Error.AccessDenied":
        return "D-Bus denied access to BlueZ (is the service user allowed to use bluetooth?)"
    return f"adapter {adapter} not found ({name})"


def describe_ble_error(exc: BaseException, adapter: str) -> str:
    """One clear line for a failure of bleak or D-Bus (never a traceback)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return f"no D-Bus system bus at {system_bus_address()}: {NO_DBUS_HINT}"
    if "InProgress" in text:
        return f"{adapter}: BlueZ says an operation is in progress (InProgress): retrying"
    if "ServiceUnknown" in text:
        return "BlueZ (bluetoothd) is not running on the system bus"
    if f"adapter '{adapter}' not found" in text:
        return f"adapter {adapter} not found"
    if any(c.__name__.startswith(("Bleak", "DBus")) for c in type(exc).__mro__):
        return f"{adapter}: {text}"
    return f"unexpected {type(exc).__name__}: {text}"
