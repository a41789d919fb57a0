"""The one exception tree of sensor-gateway.

GatewayError
├── ConfigError          bad configuration; carries the TOML key path (exit code 2)
├── DriverError          a device driver failed; the supervisor restarts the device
│   ├── DeviceUnavailable    the device (port, adapter, peripheral) is not there right now
│   │   └── AdapterUnavailable   a Bluetooth adapter (or BlueZ, or D-Bus) is missing or wedged
│   └── DecodeError          bytes from a device could not be decoded (counted, skipped)
├── PublishError         the MQTT side failed (reconnect follows)
│   ├── MqttRefused          the broker refused the CONNECT (bad credentials, not authorised...)
│   └── MqttConnectionLost   the connection dropped, timed out or broke the protocol
│       └── BrokerDown           the broker's port refused the connection (nothing listens)
└── BufferFailure        the buffer/outbox failed
    └── OutboxLocked         another process uses the disk outbox file
"""

from __future__ import annotations

__all__ = [
    "AdapterUnavailable",
    "BrokerDown",
    "BufferFailure",
    "ConfigError",
    "DecodeError",
    "DeviceUnavailable",
    "DriverError",
    "GatewayError",
    "MqttConnectionLost",
    "MqttNotAuthorised",
    "MqttRefused",
    "OutboxLocked",
    "PublishError",
]


class GatewayError(Exception):
    """Base of every error sensor-gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration problem. ``problems`` holds ``(key_path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {msg}" if key else msg for key, msg in problems))

    @classmethod
    def single(cls, key: str, message: str) -> ConfigError:
        return cls([(key, message)])


class DriverError(GatewayError):
    """A device driver failed; its supervisor restarts it with backoff."""


class DeviceUnavailable(DriverError):
    """The device is not reachable now (port missing, adapter gone, peripheral away)."""


class AdapterUnavailable(DeviceUnavailable):
    """A Bluetooth adapter is missing, powered off or wedged, or BlueZ/D-Bus is not there."""


class DecodeError(DriverError):
    """Bytes from a device could not be turned into readings. ``kind`` names the counter."""

    def __init__(self, message: str, kind: str = "decode") -> None:
        self.kind = kind
        super().__init__(message)


class PublishError(GatewayError):
    """Publishing to the broker failed."""


class MqttRefused(PublishError):
    """The broker refused the connection (a CONNACK code, or it closed the connection instead
    of answering CONNECT) or a subscription (a SUBACK failure code)."""


class MqttNotAuthorised(MqttRefused):
    """The broker refused the credentials or this client (bad user name or password, not
    authorised): retrying cannot help until the configuration or the broker's ACL changes."""


class MqttConnectionLost(PublishError):
    """The MQTT connection is gone: closed, silent past the keepalive, or a protocol error."""


class BrokerDown(MqttConnectionLost):
    """The broker's port refused the TCP connection: nothing listens there (down, restarting).
    Retrying costs the broker nothing, so the publisher retries at ``reconnect_spread``."""


class BufferFailure(GatewayError):
    """The reading buffer (memory or disk outbox) failed."""


class OutboxLocked(BufferFailure):
    """Another daemon already uses this outbox file (two would deliver the same readings)."""
