"""What the publisher needs from one MQTT connection, whichever client makes it.

:class:`~gateway.mqtt.client.LeanClient` (the default data path) and
:class:`~gateway.mqtt.aio.AiomqttSession` (the aiomqtt fallback) both implement it, so the
publisher has one loop and one ordering rule for both. Acknowledgements come back through the
``on_acked`` callback given when connecting; refusals through ``on_rejected``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from gateway.mqtt.client import Publishable

__all__ = ["Session"]


class Session(Protocol):
    @property
    def status_window(self) -> int:
        """Status publishes that may await their PUBACK at once."""
        ...

    @property
    def hung_up_on(self) -> tuple[str, bytes] | None:
        """(topic, payload) of the message the broker most likely hung up on, once lost."""
        ...

    async def room(self) -> int:
        """Wait until more readings may be sent; how many the window takes now."""
        ...

    def send(self, entries: list[Publishable], qos: int) -> None:
        """Send a batch of readings (acknowledged later through ``on_acked``)."""
        ...

    def publish_nowait(self, topic: str, payload: bytes, *,
                       retain: bool = False) -> asyncio.Future[bytes]:
        """One QoS 1 status publish; the future completes with its PUBACK (``b""``), or
        ``NOT_SENT``, or fails with the connection."""
        ...

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe; a refusal raises :class:`~gateway.errors.MqttRefused`."""
        ...

    async def supervise(self) -> None:
        """Keep the connection alive; raise once it is gone."""
        ...
