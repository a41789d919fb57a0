"""The daemon: devices, buffer and publisher under one TaskGroup, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.config import Settings
from gateway.core.device import Device
from gateway.core.rate import ReadingRate
from gateway.core.resources import SharedResources
from gateway.core.topics import TopicLayout
from gateway.delivery import OwnedBuffer, make_buffer
from gateway.delivery.instruments import PublishInstruments
from gateway.homeassistant.discovery import Discovery
from gateway.mqtt.embedded_broker import embedded_broker
from gateway.mqtt.publisher import OFFLINE, ONLINE, Publisher
from gateway.ops.operations import Operations
from gateway.sdk import DeviceConfig

if TYPE_CHECKING:
    from gateway.sparkplug.node import EdgeNode

__all__ = ["Gateway"]

log = logging.getLogger("gateway")


class Gateway:
    """Construction does nothing but wiring; :meth:`run` does the work until ``stop`` is set."""

    def __init__(self, settings: Settings, loader: Callable[[], Settings] | None = None) -> None:
        self.settings = settings
        self.topics = TopicLayout(settings.topic_root)
        self.buffer: OwnedBuffer = make_buffer(settings.buffer)
        client_id = settings.mqtt.client_id or f"sensor-gateway-{settings.gateway.id}"
        self.instruments = PublishInstruments(self.buffer) if settings.metrics.listen else None
        self.sparkplug: EdgeNode | None = None
        if settings.sparkplug.enabled:
            from gateway.sparkplug.node import EdgeNode  # noqa: PLC0415 - loads protobuf

            self.sparkplug = EdgeNode(settings.sparkplug, settings.gateway.id, self.topics)
        self.publisher = Publisher(settings.mqtt, self.topics, self.instruments or self.buffer,
                                   client_id, self.sparkplug)
        self.devices: dict[str, Device] = {}
        self.reading_rate = ReadingRate()  # readings per minute, for STATUS= and <root>/stats
        self.discovery: Discovery | None = None
        if settings.homeassistant.discovery:
            self.discovery = Discovery(settings, self.publisher, replay=self._replay)
        self.ready = asyncio.Event()
        self._device_tasks: dict[str, asyncio.Task[None]] = {}
        # sd_notify, reload, metrics, stats, loop health
        self.ops = Operations(self, loader, self.buffer.put)
        self.publisher.on_state_change = self.ops.status_changed

    async def run(self, stop: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            mqtt = self.settings.mqtt
            if mqtt.embedded_broker:
                await stack.enter_async_context(embedded_broker(*mqtt.addresses[0]))
            await stack.enter_async_context(self.buffer)
            async with asyncio.TaskGroup() as tg:
                upkeep = tg.create_task(self.buffer.run(), name="buffer")
                publisher = tg.create_task(self.publisher.run(), name="publisher")
                shared = SharedResources(tg)
                if self.discovery is not None:
                    self.discovery.start(self.settings.expanded_devices())
                self._tg, self._shared = tg, shared
                for config in self.settings.expanded_devices():
                    self._start_device(tg, shared, config)
                log.info("running: %d devices, publishing under %s to %s",
                         len(self.devices), self.topics.root, mqtt.describe_servers())
                self.ops.start(tg, publisher)
                self.ready.set()
                await stop.wait()
                self.ops.stop()
                await self._shutdown(publisher)
                upkeep.cancel()

    def _start_device(
        self, tg: asyncio.TaskGroup, shared: SharedResources, config: DeviceConfig
    ) -> None:
        gateway = self.settings.gateway
        device = Device(
            config, self.buffer,
            topics=self.topics,
            shared=shared,
            on_status=self._device_status,
            restart=(gateway.restart_delay_initial, gateway.restart_delay_max),
            on_new_sensor=self.discovery.sensor_seen if self.discovery else None,
            on_describe=self.discovery.model_seen if self.discovery else None,
            rate=self.reading_rate,
        )
        self.devices[device.device_id] = device
        name = f"device[{device.device_id}]"
        self._device_tasks[device.device_id] = tg.create_task(device.run(), name=name)

    def start_device(self, config: DeviceConfig) -> None:
        """Start one more device while running (reload)."""
        self._start_device(self._tg, self._shared, config)

    async def stop_device(self, device_id: str) -> None:
        """Stop a running device and wait until it has (reload)."""
        task = self._device_tasks.pop(device_id)
        device = self.devices.pop(device_id, None)
        if device is not None:
            device.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def apply_settings(self, settings: Settings) -> None:
        """After a reload: the new settings (devices are started and stopped separately)."""
        self.settings = settings

    def devices_changed(self, devices: list[DeviceConfig]) -> None:
        """After a reload: Home Assistant discovery announces new devices, removes old ones."""
        if self.discovery is not None:
            self.discovery.update(devices)

    def device_removed(self, device_id: str) -> None:
        """A device left the config: its retained status becomes ``offline``."""
        self._device_status(device_id, False)

    def _replay(self, device_id: str) -> None:
        """Home Assistant discovery went out: the device's last readings again, a bit later."""
        if (device := self.devices.get(device_id)) is not None:
            device.replay()

    def _device_status(self, device_id: str, online: bool) -> None:
        if self.sparkplug is not None:  # DDEATH (or a DBIRTH with its next reading)
            self.sparkplug.device_status(device_id, online)
        else:
            status = ONLINE if online else OFFLINE
            self.publisher.set_status(self.topics.device_status(device_id), status)
        self.ops.status_changed()

    async def _shutdown(self, publisher: asyncio.Task[None]) -> None:
        log.info("stopping: %d devices", len(self._device_tasks))
        if self.discovery is not None:
            self.discovery.close()
        for device in self.devices.values():
            device.stop()
        for task in self._device_tasks.values():
            task.cancel()
        await asyncio.gather(*self._device_tasks.values(), return_exceptions=True)
        self.publisher.going_offline()
        timeout = self.settings.gateway.shutdown_timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.publisher.flush()
        stats = self.buffer.stats()
        if stats.queued + stats.inflight:  # timed out, or waiting for a Sparkplug host
            fate = "kept in the outbox" if stats.persistent else "memory buffer: lost"
            log.warning("shutdown: %d readings not delivered within %.1fs (%s)",
                        stats.queued + stats.inflight, timeout, fate)
        publisher.cancel()

