"""One device at run time: the context its driver emits into, and its supervision loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from gateway.core import registry
from gateway.core.backoff import Backoff
from gateway.core.rate import ReadingRate
from gateway.core.readings import Measurement, json_bytes
from gateway.core.report import ReportPolicy
from gateway.core.resources import SharedResources
from gateway.core.timefmt import iso_ms
from gateway.core.topics import TopicLayout, sanitize
from gateway.core.watch import watch
from gateway.delivery.buffer import Buffer, Entry
from gateway.errors import DriverError
from gateway.sdk import DeviceConfig, DeviceModel

__all__ = ["Device", "DeviceStalled"]

T = TypeVar("T")
log = logging.getLogger("gateway.device")

ERROR_LOG_PERIOD = 60.0  # seconds between two log lines about one kind of bad input


class DeviceStalled(DriverError):
    """The device produced nothing for longer than its stall timeout."""


class _DeviceLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:  # noqa: ANN401 - logging API
        return f"[{self.extra['device'] if self.extra else '?'}] {msg}", kwargs


class _Sensor:
    __slots__ = ("last_published", "last_value", "policy", "topic")

    def __init__(self, topic: str, policy: ReportPolicy | None) -> None:
        self.topic = topic
        self.policy = policy
        self.last_published = float("-inf")
        self.last_value: float | None = None

    def due(self, value: float, now: float) -> bool:
        """Report-by-exception: is this reading to be published?"""
        policy = self.policy
        return policy is None or policy.publish(self.last_value, value, now - self.last_published)

    def sent(self, value: float, now: float) -> None:
        self.last_published = now
        self.last_value = value


class Device:
    """A configured device: implements the driver's ``DeviceContext`` and supervises the driver.

    ``on_status(device_id, online)`` is called on every change of health.
    """

    def __init__(
        self,
        config: DeviceConfig,
        buffer: Buffer,
        *,
        topics: TopicLayout,
        shared: SharedResources,
        on_status: Callable[[str, bool], None],
        restart: tuple[float, float] = (0.5, 30.0),
        on_new_sensor: Callable[[str, Measurement], None] | None = None,
        on_describe: Callable[[str, DeviceModel], None] | None = None,
        rate: ReadingRate | None = None,
    ) -> None:
        self.config = config
        self.device_id = sanitize(config.id)
        self.log = _DeviceLog(log, {"device": self.device_id})
        self.online: bool | None = None
        self.readings = 0
        self.suppressed = 0  # readings not published by report-by-exception (deadband)
        self.restarts = 0
        self.errors: Counter[str] = Counter()
        self.last_reading = time.monotonic()
        self._buffer = buffer
        self._flow = buffer.flow
        self.shed = 0  # readings shed at the source under overload (gateway.delivery.flow)
        self._seqs = buffer.sequences
        self._topics = topics
        self._shared = shared
        self._on_status = on_status
        self._restart = restart
        self._on_new_sensor = on_new_sensor
        self._on_describe = on_describe
        self._rate = rate  # the daemon's readings-per-minute count (every device adds to it)
        self.model = config.device_model()
        self._sensors: dict[str, _Sensor] = {}
        self._cap = config.publish_interval()
        self._per_device = config.layout == "device"  # one message per read cycle
        self._error_logged: dict[str, tuple[float, int]] = {}
        self._device_topic = topics.device(self.device_id)
        self._last: dict[str, bytes] = {}  # state topic -> the last payload published on it
        self._offline_cause: str | None = None  # why it went (or stays) offline
        self._stopping = False  # the daemon is cancelling this device (stop())

    # --- DeviceContext ---------------------------------------------------------------------

    def emit(self, measurements: Iterable[Measurement], ts: float | None = None) -> None:
        now = time.time() if ts is None else ts
        batch = measurements if isinstance(measurements, list) else list(measurements)
        if self.shedding:  # overload: shed here, before a seq or a payload is made
            self._shed(len(batch))
            if batch:
                self.alive()
            return
        if self._per_device:
            count = self._emit_device(batch, now)
        else:
            count = self._emit_sensors(batch, now)
        if count:
            self.readings += count
            if self._rate is not None:
                self._rate.add(count)
        if batch:  # heard from, even if nothing was due for publishing
            self.alive()

    @property
    def shedding(self) -> bool:
        """Overload, and this device holds at least a quarter of its fair share of the buffer:
        it sheds (a slow device beside a flooding one keeps publishing)."""
        return self._flow.shedding and self._buffer.over_share(self.device_id)

    async def wait_flow(self) -> None:
        await self._flow.wait_open()

    def skipped(self, cycles: int) -> None:
        """``cycles`` read cycles were not done (or not decoded) under overload: each counts
        as many shed readings as the device has sensors."""
        self._shed(cycles * max(1, len(self._sensors)))

    def _shed(self, readings: int) -> None:
        self.shed += readings
        self._flow.count(self.device_id, readings)

    def alive(self) -> None:
        self.last_reading = time.monotonic()
        if self.online is not True:
            self._set_online()

    def offline(self, reason: str) -> None:
        if self.online is not False:
            self._set_offline(reason)

    def _emit_sensors(self, measurements: Iterable[Measurement], now: float) -> int:
        """One message per reading. The hot path of every driver: names looked up once."""
        iso = ""
        count = 0
        cap, sensors, seqs, last = self._cap, self._sensors, self._seqs, self._last
        put, device = self._buffer.put, self.device_id
        for m in measurements:
            sensor = sensors.get(m.name) or self._add_sensor(m)
            if cap is not None and now - sensor.last_published < cap:
                continue
            value = m.value
            if sensor.policy is not None and not sensor.due(value, now):
                self.suppressed += 1
                continue
            sensor.last_published = now
            sensor.last_value = value
            iso = iso or iso_ms(now)
            topic = sensor.topic
            seq = seqs.get(topic, 0) + 1
            seqs[topic] = seq
            payload = last[topic] = json_bytes({"value": value, "unit": m.unit, "ts": iso,
                                                "seq": seq})
            put(Entry(topic, payload, device))
            count += 1
        return count

    def _emit_device(self, measurements: list[Measurement], now: float) -> int:
        sensors = [self._sensors.get(m.name) or self._add_sensor(m) for m in measurements]
        if not any(s.due(m.value, now) for s, m in zip(sensors, measurements, strict=True)):
            self.suppressed += len(measurements)  # the whole cycle is inside its deadbands
            return 0
        for sensor, m in zip(sensors, measurements, strict=True):
            sensor.sent(m.value, now)
        readings = {sanitize(m.name): {"value": m.value, "unit": m.unit} for m in measurements}
        seq = self._seqs.get(self._device_topic, 0) + 1
        self._seqs[self._device_topic] = seq
        body = json_bytes({"ts": iso_ms(now), "seq": seq, "readings": readings})
        self._last[self._device_topic] = body
        self._buffer.put(Entry(self._device_topic, body, self.device_id))
        return len(readings)

    def _add_sensor(self, first: Measurement) -> _Sensor:
        name = first.name
        topic = self._topics.sensor(self.device_id, name)
        sensor = self._sensors[name] = _Sensor(topic, self.config.report_policy(name))
        if self._on_new_sensor is not None:
            self._on_new_sensor(self.device_id, first)
        return sensor

    def replay(self) -> int:
        """Send the last reading of every sensor again, an exact duplicate (same ``seq`` and
        ``ts``), for a consumer that subscribed after it went out (Home Assistant after
        discovery). Not while the device is offline: its readings are stale. How many."""
        if not self.online:
            return 0
        for topic, payload in self._last.items():
            self._buffer.put(Entry(topic, payload, self.device_id))
        return len(self._last)

    def describe(self, model: DeviceModel) -> None:
        if model != self.model:
            self.model = model
            if self._on_describe is not None:
                self._on_describe(self.device_id, model)

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        now = time.monotonic()
        last, seen = self._error_logged.get(kind, (float("-inf"), self.errors[kind] - 1))
        if now - last >= ERROR_LOG_PERIOD:
            since = self.errors[kind] - seen
            more = f" ({since} since the last report)" if since > 1 else ""
            self.log.warning("%s: %s%s", kind, detail or "bad input skipped", more)
            self._error_logged[kind] = (now, self.errors[kind])

    def shared(
        self, key: Hashable, factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> AbstractAsyncContextManager[T]:
        return self._shared.use(key, factory)

    # --- health ----------------------------------------------------------------------------

    def _set_online(self) -> None:
        self.log.info("online again" if self.online is False else "online")
        self.online = True
        self._on_status(self.device_id, True)

    def _set_offline(self, reason: str, cause: str | None = None) -> None:
        """``cause`` is ``reason`` without what changes every time (the retry delay): a device
        that is still offline, but now for another cause (the port appeared but is refused), is
        worth a warning; the same cause again is not."""
        if self.online is not False:
            self.log.warning("offline: %s", reason)
        elif cause is not None and cause != self._offline_cause:
            self.log.warning("still offline, now: %s", reason)
        else:
            self.log.debug("still offline: %s", reason)
        self._offline_cause = cause
        self.online = False
        self._on_status(self.device_id, False)

    # --- supervision -----------------------------------------------------------------------

    def stop(self) -> None:
        """The daemon is about to cancel :meth:`run`'s task (a shutdown, a reload)."""
        self._stopping = True

    async def run(self) -> None:
        """Run the driver forever: restart it with backoff when it fails or stalls."""
        backoff = Backoff(*self._restart)
        while True:
            started = time.monotonic()
            reason = "driver ended"
            try:
                await self._run_driver()
            except Exception as exc:  # noqa: BLE001 - any driver failure is supervised
                if self._stopping:
                    # Stopped while the driver failed: Python 3.11's TaskGroup raises the
                    # driver's error and drops the cancellation; a restart would ignore the stop.
                    raise asyncio.CancelledError from None
                reason = _describe(exc)
            self.restarts += 1
            if self.last_reading > started:
                backoff.reset()
            delay = backoff.next_delay()
            self._set_offline(f"{reason}; restarting in {delay:.1f}s", cause=reason)
            await asyncio.sleep(delay)

    async def _run_driver(self) -> None:
        self.last_reading = time.monotonic()
        driver = registry.create(self.config, self)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._drive(driver.run), name=f"device[{self.device_id}].driver")
                tg.create_task(self._watchdog(), name=f"device[{self.device_id}].watchdog")
        except BaseExceptionGroup as group:
            raise _first(group) from None

    async def _drive(self, run: Callable[[], Any]) -> None:
        await run()
        raise DriverError("driver stopped by itself")

    async def _watchdog(self) -> None:
        """Offline after ``offline_after`` of silence, restarted after ``stall``: checked at
        every point of a grid (the device's poll interval, else about a quarter of the shorter
        of the two) by one scan of every device on that grid (:mod:`gateway.core.watch`), in the
        pass of the loop the devices' own ticks wake in. This task only waits for the check to
        fail (the device stalled) and raises it in the device's task group."""
        offline_after = self.config.offline_after()
        stall = self.config.stall_after()
        limit = min(offline_after, stall or offline_after)
        grid = _grid_tick(limit / 4)
        interval = self.config.poll_interval()
        if grid < interval <= limit / 2:
            grid = interval  # the device's own ticks: the watchdog shares their wake-ups

        def check(now: float) -> None:
            idle = now - self.last_reading
            if stall is not None and idle >= stall:
                raise DeviceStalled(f"no reading for {idle:.1f}s")
            if self.online and idle >= offline_after:
                self._set_offline(f"no reading for {idle:.1f}s")

        watchdogs = watch(grid)
        failed = watchdogs.add(check)
        try:
            await failed
        finally:
            watchdogs.discard(failed)


_GRID_TICKS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def _grid_tick(wanted: float) -> float:
    """The largest of a few round periods not above ``wanted``: watchdogs of devices with
    different intervals still share wake-ups (and meet the 1 s ticks on whole seconds)."""
    return max([t for t in _GRID_TICKS if t <= wanted] or [_GRID_TICKS[0]])


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
