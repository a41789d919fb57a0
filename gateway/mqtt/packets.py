"""MQTT 3.1.1 packets the lean client needs: pure encoders and a streaming decoder, no I/O.

Only what a publishing client sends (CONNECT, PUBLISH QoS 0/1, SUBSCRIBE, PUBACK, PINGREQ,
DISCONNECT) and receives (CONNACK, PUBACK, SUBACK, PUBLISH QoS 0/1, PINGRESP).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "CONNACK",
    "DISCONNECT",
    "PINGREQ",
    "PINGRESP",
    "PUBACK",
    "PUBLISH",
    "SUBACK",
    "PacketReader",
    "ProtocolViolation",
    "Will",
    "check_incoming",
    "connack_code",
    "encode_connect",
    "encode_puback",
    "encode_publish",
    "encode_subscribe",
    "packet_id",
    "parse_publish",
    "publish_size",
    "remaining_length",
    "topic_field",
    "topic_matches",
]

CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBACK = 9
PINGRESP = 13
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"
MAX_REMAINING = 268_435_455

_SMALL_LENGTHS = [bytes((n,)) for n in range(128)]


class ProtocolViolation(ValueError):
    """Bytes from the broker that are not valid MQTT 3.1.1."""


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def remaining_length(n: int) -> bytes:
    """The variable-length "remaining length" of a fixed header."""
    if n < 128:
        return _SMALL_LENGTHS[n]
    if n > MAX_REMAINING:
        raise ValueError(f"packet too large ({n} bytes)")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _field(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("a string field is longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def topic_field(topic: str) -> bytes:
    """A topic as it appears in PUBLISH (length-prefixed UTF-8); callers cache it."""
    return _field(topic.encode())


def encode_connect(
    client_id: str, keepalive: int, *, will: Will | None = None, username: str | None = None,
    password: str | None = None, clean_session: bool = True,
) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _field(client_id.encode())
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _field(will.topic.encode()) + _field(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _field(username.encode())
    if password is not None:
        flags |= 0x40
        payload += _field(password.encode())
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + keepalive.to_bytes(2, "big") + payload
    return b"\x10" + remaining_length(len(body)) + body


def encode_publish(
    topic: bytes, payload: bytes, qos: int = 0, packet_id: int = 0, *, retain: bool = False,
    dup: bool = False,
) -> bytes:
    """One PUBLISH; ``topic`` is the length-prefixed field from :func:`topic_field`."""
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    if qos:
        return (bytes((first,)) + remaining_length(len(topic) + 2 + len(payload)) + topic
                + packet_id.to_bytes(2, "big") + payload)
    return bytes((first,)) + remaining_length(len(topic) + len(payload)) + topic + payload


def publish_size(topic: str, payload: bytes, qos: int) -> int:
    """The size in bytes of an MQTT 3.1.1 PUBLISH of ``payload`` on ``topic``."""
    body = 2 + len(topic.encode()) + (2 if qos else 0) + len(payload)
    return 1 + len(remaining_length(min(body, MAX_REMAINING))) + body


def encode_subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    body = packet_id.to_bytes(2, "big") + _field(topic_filter.encode()) + bytes((qos,))
    return b"\x82" + remaining_length(len(body)) + body


def encode_puback(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def parse_publish(flags: int, body: bytes) -> tuple[str, bytes, int, int, bool]:
    """An incoming PUBLISH: ``(topic, payload, qos, packet id or 0, retain)``."""
    qos = (flags >> 1) & 0x03
    if qos == 3 or len(body) < 2:
        raise ProtocolViolation("malformed PUBLISH")
    end = 2 + int.from_bytes(body[:2], "big")
    if len(body) < end + (2 if qos else 0):
        raise ProtocolViolation("PUBLISH shorter than its topic")
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        raise ProtocolViolation("PUBLISH topic is not UTF-8") from None
    pid = int.from_bytes(body[end:end + 2], "big") if qos else 0
    return topic, body[end + (2 if qos else 0):], qos, pid, bool(flags & 0x01)


# What a server may send a client, and the fixed-header flags each must carry (2.2.2: other
# flags make the packet malformed and the connection must be closed [MQTT-2.2.2-2]). PUBLISH
# flags are checked in :func:`check_incoming`. 14 and 15 (DISCONNECT, AUTH) are MQTT 5 only.
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
                6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
                11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
_FROM_SERVER_FLAGS = {2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 9: 0, 11: 0, 13: 0}
_FROM_SERVER_FLAGS_V5 = {**_FROM_SERVER_FLAGS, 14: 0, 15: 0}
# Sent by a server but never in answer to what we do (QoS 2 flows, UNSUBSCRIBE): harmless.
UNEXPECTED_BUT_HARMLESS = frozenset({5, 6, 7, 11})


def check_incoming(kind: int, flags: int, protocol: int = 4) -> None:
    """Raise :class:`ProtocolViolation` for a packet a server must not send: a client-only
    type (CONNECT, SUBSCRIBE, PINGREQ...), reserved flags set, a PUBLISH with QoS 3 or with
    DUP at QoS 0 [MQTT-3.3.1-2]."""
    name = PACKET_NAMES.get(kind, f"packet type {kind}")
    if kind == PUBLISH:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise ProtocolViolation("PUBLISH with QoS 3")
        if not qos and flags & 0x08:
            raise ProtocolViolation("PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]")
        return
    expected = (_FROM_SERVER_FLAGS_V5 if protocol == 5 else _FROM_SERVER_FLAGS).get(kind)
    if expected is None:
        raise ProtocolViolation(f"{name} from the broker: only a client sends it")
    if flags != expected:
        raise ProtocolViolation(f"{name} with reserved flags 0x{flags:X} [MQTT-2.2.2-2]")


def topic_matches(topic: str, topic_filter: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest; ``$`` topics only explicitly)."""
    levels, parts = topic.split("/"), topic_filter.split("/")
    if topic.startswith("$") and parts[0] in ("+", "#"):
        return False
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(levels) == len(parts)


class PacketReader:
    """Frames a byte stream into ``(packet type, flags, body)`` tuples."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def idle(self) -> bool:
        """No part of a packet is waiting for the rest of it."""
        return not self._buf

    def feed(self, data: bytes | memoryview) -> list[tuple[int, int, bytes]]:
        return list(self.packets(data))

    def packets(self, data: bytes | memoryview) -> Iterator[tuple[int, int, bytes]]:
        """The complete packets in what has arrived so far; a malformed one raises
        :class:`ProtocolViolation` after the good packets before it were yielded."""
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        try:
            while end - pos >= 2:
                length, shift, i, complete = 0, 0, pos + 1, False
                while i < end:
                    byte = buf[i]
                    i += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        complete = True
                        break
                    shift += 7
                    if shift > 21:
                        raise ProtocolViolation("remaining length longer than 4 bytes")
                if not complete or i + length > end:
                    break
                first = buf[pos]
                body = bytes(buf[i:i + length])
                pos = i + length
                yield first >> 4, first & 0x0F, body
        finally:
            del buf[:pos]


def only_pubacks(data: bytes | memoryview) -> int:
    """How many MQTT 3.1.1 PUBACKs ``data`` is, if it is nothing else (0 if not): the common
    read of a publisher, which :class:`PacketReader` need not frame one by one."""
    count, rest = divmod(len(data), 4)
    if rest or not count:
        return 0
    first, length = data[0::4], data[1::4]
    return count if first == b"\x40" * count and length == b"\x02" * count else 0


def connack_code(body: bytes) -> int:
    """A 3.1.1 CONNACK's return code (its Session Present flag: :func:`session_present`)."""
    if len(body) != 2:
        raise ProtocolViolation("CONNACK must have 2 bytes")
    if body[0] & 0xFE:
        raise ProtocolViolation("CONNACK with reserved acknowledge flags set")
    return body[1]


def packet_id(body: bytes) -> int:
    if len(body) != 2:
        raise ProtocolViolation("PUBACK must have 2 bytes")
    return int.from_bytes(body, "big")


CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
