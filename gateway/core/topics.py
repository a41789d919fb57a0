"""Topic names: sanitising device-supplied names and building the public topic layout."""

from __future__ import annotations

import re

__all__ = ["TopicLayout", "sanitize"]

_FORBIDDEN = re.compile(r"[+#/\x00-\x1f\x7f\s]+")


def sanitize(name: str, fallback: str = "unnamed") -> str:
    """Make ``name`` safe as one MQTT topic level.

    Wildcards (``+``, ``#``), separators (``/``), NUL/control characters and white space become
    ``_``; a leading ``$`` (reserved for broker topics) is dropped. Never returns an empty level.
    """
    cleaned = _FORBIDDEN.sub("_", name).lstrip("$").strip("_")
    return cleaned or fallback


class TopicLayout:
    """The public topic contract under one root (``sensor-gateway/<gateway_id>`` by default)."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    @property
    def gateway_status(self) -> str:
        return f"{self.root}/status"

    @property
    def stats(self) -> str:
        return f"{self.root}/stats"

    def device(self, device_id: str) -> str:
        return f"{self.root}/{sanitize(device_id)}"

    def device_status(self, device_id: str) -> str:
        return f"{self.device(device_id)}/status"

    def sensor(self, device_id: str, sensor: str) -> str:
        return f"{self.device(device_id)}/{sanitize(sensor)}"
