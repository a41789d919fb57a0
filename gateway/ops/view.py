"""What the operations pieces (systemd, metrics, stats, reload) see of the daemon.

Narrow protocols instead of the whole daemon: the ops modules read counters through
:class:`GatewayView`; only the reload, through :class:`GatewayControl`, may change what runs.
:class:`gateway.daemon.Gateway` implements both, and nothing here imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.config import MqttSection, Settings
    from gateway.core.topics import TopicLayout
    from gateway.delivery.buffer import BufferStats, Flow
    from gateway.delivery.instruments import PublishInstruments
    from gateway.sdk import DeviceConfig

__all__ = ["DeviceView", "GatewayControl", "GatewayView", "PublisherView", "RateView"]


class DeviceView(Protocol):
    """One running device's health counters."""

    @property
    def online(self) -> bool | None: ...
    @property
    def readings(self) -> int: ...
    @property
    def restarts(self) -> int: ...
    @property
    def shed(self) -> int:
        """Readings shed at the source under overload (gateway.delivery.flow)."""
        ...
    @property
    def errors(self) -> Mapping[str, int]: ...
    @property
    def last_reading(self) -> float:
        """``time.monotonic()`` of the last reading (or of the driver's start)."""
        ...


class PublisherView(Protocol):
    """The MQTT side's state and counters."""

    @property
    def connected(self) -> asyncio.Event: ...
    @property
    def published(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def rejected_by(self) -> dict[tuple[str, str], int]: ...
    @property
    def mqtt(self) -> MqttSection: ...


class BufferView(Protocol):
    def stats(self) -> BufferStats: ...
    @property
    def flow(self) -> Flow: ...


class RateView(Protocol):
    def last_minute(self) -> tuple[int, bool]:
        """Readings in the last minute, and whether the daemon ran for all of it (if not: the
        readings so far)."""
        ...


class GatewayView(Protocol):
    """The daemon, read-only."""

    @property
    def settings(self) -> Settings: ...
    @property
    def topics(self) -> TopicLayout: ...
    @property
    def devices(self) -> Mapping[str, DeviceView]: ...
    @property
    def publisher(self) -> PublisherView: ...
    @property
    def buffer(self) -> BufferView: ...
    @property
    def reading_rate(self) -> RateView: ...
    @property
    def instruments(self) -> PublishInstruments | None: ...


class GatewayControl(GatewayView, Protocol):
    """What a configuration reload may do to the running daemon."""

    def apply_settings(self, settings: Settings) -> None:
        """From now on, the daemon's settings are these (devices are started separately)."""

    def start_device(self, config: DeviceConfig) -> None: ...

    async def stop_device(self, device_id: str) -> None: ...

    def device_removed(self, device_id: str) -> None:
        """A device left the config: its retained status becomes ``offline``."""

    def devices_changed(self, devices: list[DeviceConfig]) -> None:
        """The configured devices after a reload (Home Assistant discovery follows)."""
