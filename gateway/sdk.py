"""The driver SDK: everything a driver kind imports from the core, and nothing else.

Drivers (built-in ones in ``drivers/`` and third-party ones) import only this module: the
config base, the context the core gives a driver, :class:`Measurement`, the driver errors and
small helpers (:func:`ticks`, :class:`Backoff`). The core builds on the same names, so the
dependencies point one way: ``drivers -> gateway.sdk <- core``.

A driver kind is one module or package in ``drivers/`` (or a third-party one registered under the
``sensor_gateway.drivers`` entry-point group) that exposes:

- ``CONFIG``: a :class:`DeviceConfig` subclass whose ``driver`` field is ``Literal["<kind>"]``;
- ``create(config, ctx) -> Driver``: builds the driver. Heavy third-party imports (bleak,
  pymodbus...) happen inside ``create`` or the driver's methods, never at module level, so a
  configuration that does not use a kind never imports its stack;
- optionally ``SCAN``, a :class:`ScanCommand` (``sensor-gateway scan <kind>``, and the device
  blocks ``sensor-gateway init --from-scan`` writes), and ``SIMULATE``, a :class:`Command`
  (``sensor-gateway simulate <kind>``).

What the core needs to know about a device comes through the config: the sensors it will
publish (:meth:`DeviceConfig.sensor_specs`), its maker and model
(:meth:`DeviceConfig.device_model`, or :meth:`DeviceContext.describe` once a driver learns
them), and its timing (:meth:`DeviceConfig.poll_interval`, :meth:`DeviceConfig.offline_after`,
:meth:`DeviceConfig.stall_after`).

Polled sensors subclass :class:`PolledDriver` and implement ``read()``; streaming and
advertisement drivers implement ``run()`` and call ``ctx.emit`` whenever readings arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.core.backoff import Backoff
from gateway.core.readings import Measurement
from gateway.core.report import ReportPolicy, parse_deadband
from gateway.core.timers import Grid
from gateway.errors import AdapterUnavailable, DecodeError, DeviceUnavailable, DriverError

__all__ = [
    "STALL_FLOOR",
    "AdapterUnavailable",
    "Backoff",
    "Command",
    "DecodeError",
    "DeviceConfig",
    "DeviceContext",
    "DeviceModel",
    "DeviceUnavailable",
    "Driver",
    "DriverError",
    "Measurement",
    "PolledDriver",
    "ScanCommand",
    "SensorSpec",
    "run_until_stopped",
    "ticks",
]

T = TypeVar("T")
C = TypeVar("C", bound="DeviceConfig")

OFFLINE_FLOOR = 1.0  # seconds: a device is never declared offline sooner than this
STALL_FLOOR = 5.0  # seconds: nor restarted for silence sooner than this
SILENCE_KEY = "silence_timeout"

log = logging.getLogger("gateway.config")


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor a device will publish, known from its config before it runs.

    ``kind`` is the sensor's kind in the gateway's vocabulary (``temperature``, ``humidity``,
    ``pm2_5``, ``co2``...), which picks its Home Assistant class; ``unit`` its unit symbol.
    """

    name: str
    kind: str
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """Who made a device and what it is (Home Assistant shows both)."""

    manufacturer: str | None
    model: str


@dataclass(frozen=True)
class Command:
    """A sub-command a driver kind adds to the command line (``simulate <kind>``)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class ScanCommand(Command):
    """``scan <kind>``; ``starter(taken)``, where given, returns ready ``[[devices]]`` TOML
    blocks for what it finds (``init --from-scan``), with ids not in ``taken`` (which it
    extends)."""

    starter: Callable[[set[str]], list[str]] | None = None


class DeviceConfig(BaseModel):
    """Options every device has. Driver kinds subclass it and narrow ``driver`` to a Literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Old names of ``silence_timeout`` that this kind still accepts (with a warning).
    legacy_silence_keys: ClassVar[tuple[str, ...]] = ("stall_timeout",)

    id: str = Field(min_length=1, description=(
            "The device's name, unique in the file: its topic level (sanitised: "
            '`+`, `#`, `/`, control characters and white space become `_`) and its '
            'Home Assistant id.'))
    name: str | None = Field(None, min_length=1, max_length=100, description=(
            "What people call the device: Home Assistant's device name. Default: "
            'the id made readable ("living_room" -> "Living room").'))
    driver: str = Field(description=(
            "The driver kind, which decides the device's other keys."))
    interval: float | None = Field(None, gt=0, description=(
            'Seconds: how often the device is read, or for a device that streams, '
            'the least time between two published readings of one sensor. Each '
            "kind's table says what it does with it and its default."))
    silence_timeout: float | None = Field(None, gt=0, description=(
            'No reading for this many seconds: the device is given up on: reported '
            '`offline` and restarted (its port reopened, its connection made '
            "again). Each kind documents its default. The old names "
            '`stall_timeout` (every kind), `stale_timeout` (serial) and `timeout` '
            '(BLE) are still accepted, with a warning asking to rename them.'))
    layout: Literal["sensor", "device"] = Field("sensor", description=(
            '`sensor`: one message per reading on `<root>/<device>/<sensor>`; '
            '`device`: one JSON object per read cycle on `<root>/<device>`.'))
    # Report-by-exception (gateway/core/report.py): every sensor, or a table by sensor name.
    deadband: float | str | dict[str, float | str] | None = Field(None, description=(
            'Report-by-exception: publish a reading only when it moved by more than'
            " this from the last published value. A number (in the sensor's unit), "
            'a string like `"2%"` (relative), or a table by sensor name. `0` '
            'publishes every change and no repeats. Unset: every reading is '
            'published (BLE advertisement devices default to `0`).'))
    heartbeat: float | dict[str, float] | None = Field(None, description=(
            'With a deadband: publish the current value at least every this many '
            'seconds, changed or not. A number, or a table by sensor name (BLE '
            'advertisement devices default to 300 s).'))

    @model_validator(mode="before")
    @classmethod
    def _legacy_silence_key(cls, data: Any) -> Any:  # noqa: ANN401 - raw TOML
        """``stall_timeout`` / ``stale_timeout`` / ``timeout`` became ``silence_timeout``."""
        if not isinstance(data, dict):
            return data
        for old in cls.legacy_silence_keys:
            if old not in data:
                continue
            if SILENCE_KEY in data:
                raise ValueError(f"{old}: replaced by {SILENCE_KEY}; give only {SILENCE_KEY}")
            log.warning("device %r: %r is now called %r; please rename it", data.get("id", "?"),
                        old, SILENCE_KEY)
            data = {(SILENCE_KEY if k == old else k): v for k, v in data.items()}
        return data

    @field_validator("deadband")
    @classmethod
    def _check_deadband(
        cls, value: float | str | dict[str, float | str] | None
    ) -> float | str | dict[str, float | str] | None:
        for one in (value.values() if isinstance(value, dict) else [value]):
            if one is not None:
                parse_deadband(one)
        return value

    @field_validator("heartbeat")
    @classmethod
    def _check_heartbeat(cls, value: float | dict[str, float] | None) -> Any:  # noqa: ANN401
        for one in (value.values() if isinstance(value, dict) else [value]):
            if one is not None and not one > 0:
                raise ValueError("must be > 0 seconds")
        return value

    @model_validator(mode="after")
    def _check_report_sensors(self) -> Self:
        if self.heartbeat is not None:
            beats = self.heartbeat if isinstance(self.heartbeat, dict) else {}
            if self.deadband is None:
                raise ValueError("heartbeat: only used with a deadband "
                                 "(deadband = 0 publishes every change)")
            for name in beats:
                if isinstance(self.deadband, dict) and name not in self.deadband:
                    raise ValueError(f"heartbeat: sensor {name!r} has no deadband")
        known = self.sensor_names()
        for key in ("deadband", "heartbeat"):
            table = getattr(self, key)
            if known is not None and isinstance(table, dict):
                unknown = sorted(set(table) - set(known))
                if unknown:
                    raise ValueError(f"{key}: unknown sensor {unknown[0]!r}; "
                                     f"sensors: {', '.join(known)}")
        return self

    def report_policy(self, sensor: str) -> ReportPolicy | None:
        """The report-by-exception settings of ``sensor`` (None: publish every reading)."""
        band = self.deadband.get(sensor) if isinstance(self.deadband, dict) else self.deadband
        if band is None:
            return None
        beat = self.heartbeat.get(sensor) if isinstance(self.heartbeat, dict) else self.heartbeat
        return ReportPolicy(parse_deadband(band), beat)

    def expand(self) -> list[Self]:
        """The devices this table stands for (``count = N`` stamps out N)."""
        return [self]

    def sensor_specs(self) -> list[SensorSpec] | None:
        """The sensors this device will publish, where known before it runs (None: learned
        at run time, as each first reports)."""
        return None

    def sensor_names(self) -> list[str] | None:
        """The names of :meth:`sensor_specs`."""
        specs = self.sensor_specs()
        return None if specs is None else [spec.name for spec in specs]

    def device_model(self) -> DeviceModel:
        """Maker and model as far as the config tells (a driver may :meth:`DeviceContext.describe`
        better ones at run time)."""
        return DeviceModel(None, f"{self.driver} device")

    def stack_modules(self) -> tuple[str, ...]:
        """Modules this device's driver imports when it runs and that take long to import (its
        own driver module, bleak, D-Bus, pymodbus...). The daemon imports them before its event
        loop starts, and in a worker thread for a device that a reload adds, so that no import
        blocks the loop (a driver still imports lazily: a ``check`` or a serial-only Pi never
        pays for BLE). A module that fails to import is left to the driver to report."""
        return ()

    def poll_interval(self) -> float:
        """Seconds between two reads of a polled device (``interval``, default 1 s)."""
        return self.interval if self.interval is not None else 1.0

    def read_every(self) -> float | None:
        """Seconds between two reads of a polled device; None for one that streams (serial
        lines, advertisements), whose readings come when they come."""
        return self.poll_interval()

    def offline_after(self) -> float:
        """Seconds without a reading before the device is reported ``offline`` (a polled
        device: three missed reads; at the latest it goes offline when it is restarted)."""
        return max(3 * self.poll_interval(), OFFLINE_FLOOR)

    def publish_interval(self) -> float | None:
        """Minimum seconds between two published readings of one sensor (None: no cap)."""
        return None

    def stall_after(self) -> float | None:
        """Seconds without a reading before the device is restarted (None: never): the
        ``silence_timeout``, by default three missed reads but at least 5 s."""
        if self.silence_timeout is not None:
            return self.silence_timeout
        return max(3 * self.poll_interval(), STALL_FLOOR)


class DeviceContext(Protocol):
    """What the core gives a driver."""

    @property
    def device_id(self) -> str: ...

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]: ...

    def emit(self, measurements: Iterable[Measurement], ts: float | None = None) -> None:
        """Hand readings to the core; ``ts`` is the read time (epoch seconds, default now)."""

    def alive(self) -> None:
        """The device was heard from without a new reading (an unchanged advert): still online."""

    @property
    def shedding(self) -> bool:
        """Overload: the broker takes less than the drivers offer (see
        :mod:`gateway.delivery.flow`). A streaming driver drops what it receives before
        decoding it (and says so with :meth:`skipped`); ``emit`` sheds whatever still comes."""

    async def wait_flow(self) -> None:
        """Return once readings flow again (at once when not :attr:`shedding`)."""

    def skipped(self, cycles: int) -> None:
        """``cycles`` read cycles (polls, frames, adverts) were not done or not decoded under
        overload; counted as shed readings (as many per cycle as the device has sensors)."""

    def offline(self, reason: str) -> None:
        """The device cannot be heard now (e.g. its BLE adapter is gone): offline at once.

        The next ``emit`` or ``alive`` brings it back online; the driver keeps running.
        """

    def describe(self, model: DeviceModel) -> None:
        """The driver learned who made the device and what it is (e.g. from a decoded
        advertisement); Home Assistant discovery is updated when it changes."""

    def count_error(self, kind: str, detail: str = "") -> None:
        """Count a bad input (``garbage``, ``checksum``...) and log it, rate-limited."""

    def shared(
        self, key: Hashable, factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> AbstractAsyncContextManager[T]:
        """Use a resource shared by several devices (a BLE scanner, an RS-485 bus).

        The first user's ``factory()`` is entered in a task the core owns; later users with the
        same ``key`` get the same object; it is exited when the last user leaves.
        """


class Driver(ABC, Generic[C]):
    """One device. ``run()`` reads until cancelled; raising hands the device to supervision."""

    def __init__(self, config: C, ctx: DeviceContext) -> None:
        self.config = config
        self.ctx = ctx

    @abstractmethod
    async def run(self) -> None:
        """Read the device and ``ctx.emit`` its readings until cancelled."""


class PolledDriver(Driver[C]):
    """A device read every ``config.interval`` seconds, on a drift-free schedule."""

    def session(self) -> AbstractAsyncContextManager[object]:
        """Open what ``read`` needs (a port, a connection); default: nothing."""
        return contextlib.nullcontext()

    @abstractmethod
    async def read(self) -> Sequence[Measurement]:
        """One read cycle."""

    async def run(self) -> None:
        async with self.session():
            # what `async for _ in ticks(...)` does, without an async generator to resume
            # every tick: this loop is every polled device's hot path
            ctx = self.ctx
            schedule = _Schedule(self.config.poll_interval(), ctx)
            read, emit = self.read, ctx.emit
            while True:
                if ctx.shedding:
                    await schedule.pause()
                emit(await read())
                await schedule.next_tick()


async def ticks(interval: float, ctx: DeviceContext | None = None) -> AsyncIterator[None]:
    """Yield at once, then every ``interval`` seconds on a drift-free schedule; a tick missed
    while the consumer was busy is skipped, never made up in a burst.

    The ticks fall on a grid of ``interval`` on the loop's clock whose origin is the first tick
    of the first device with that interval, so every device with the same interval wakes in the
    same pass of the loop, on one shared timer (:mod:`gateway.core.timers`): 20 devices at
    1 Hz cost one wake-up a second, not twenty. Devices that start together tick one interval
    after their first tick; one that starts later (a restart, a reload) joins the grid at least
    half an interval after its first. With ``ctx``, no tick comes while it is
    :attr:`DeviceContext.shedding` (overload): the ticks skipped meanwhile are counted with
    :meth:`DeviceContext.skipped`."""
    schedule = _Schedule(interval, ctx)
    while True:
        if ctx is not None and ctx.shedding:
            await schedule.pause()
        yield
        await schedule.next_tick()


class _Schedule:
    """The tick schedule of :func:`ticks` (and of :meth:`PolledDriver.run`)."""

    __slots__ = ("ctx", "first", "grid")

    def __init__(self, interval: float, ctx: DeviceContext | None) -> None:
        self.ctx = ctx
        self.grid = Grid(interval)
        self.first = self.grid.loop.time()

    def next_tick(self) -> asyncio.Future[None]:
        """Sleep until the next tick (awaited)."""
        grid = self.grid
        due = grid.next_point(grid.loop.time())
        if due - self.first < grid.period / 2:  # a late joiner's first wait: not a short one
            due += grid.period
        return grid.sleep_until(due)

    async def pause(self) -> None:
        """While shedding: wait for the flow to open, and count the ticks skipped."""
        assert self.ctx is not None
        loop = self.grid.loop
        paused = loop.time()
        await self.ctx.wait_flow()
        self.ctx.skipped(int((loop.time() - paused) / self.grid.period))


# --- long-running commands --------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_until_stopped(main: Callable[[], Awaitable[T]]) -> T | None:
    """Run ``main()`` on a new event loop until it returns, or until SIGINT or SIGTERM: then it
    is cancelled, its cleanup (``finally``, ``async with``) runs, and ``None`` is returned.

    The event loop handles both signals itself, whatever disposition the process inherited: a
    command started in the background by a non-interactive shell has SIGINT *ignored*, and
    Python then raises no ``KeyboardInterrupt`` (the ``sensor-gateway`` entry point resets
    that for the start-up before the loop). Every long-running command (``simulate``,
    ``monitor``, ``scan ble``...) goes through here; the daemon's ``run`` does the same
    with its own shutdown."""
    return asyncio.run(_until_stopped(main))


async def _until_stopped(main: Callable[[], Awaitable[T]]) -> T | None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signalled: list[int] = []

    def on_signal(signum: int) -> None:
        if not signalled:
            signalled.append(signum)
            task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await main()
    except asyncio.CancelledError:
        if not signalled:
            raise
        return None
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
