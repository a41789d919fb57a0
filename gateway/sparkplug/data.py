"""The one Sparkplug type the publisher needs to know without loading protobuf."""

from __future__ import annotations

from gateway.delivery.buffer import Entry

__all__ = ["SparkplugData"]


class SparkplugData:
    """A DDATA message carrying buffer entries: acknowledging it acknowledges them."""

    __slots__ = ("entries", "payload", "topic")

    def __init__(self, topic: str, payload: bytes, entries: list[Entry]) -> None:
        self.topic = topic
        self.payload = payload
        self.entries = entries
