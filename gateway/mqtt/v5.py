"""MQTT 5 packets the lean client needs: pure encoders and decoders, no I/O.

What differs from 3.1.1 (:mod:`gateway.mqtt.packets`, whose framing, remaining length and
:class:`~gateway.mqtt.packets.ProtocolViolation` are shared): properties after the variable
header, reason codes in CONNACK, PUBACK, SUBACK and DISCONNECT, topic aliases, and a server that
may tell the client its limits (Receive Maximum, Topic Alias Maximum, Maximum Packet Size, Maximum
QoS, Retain Available, Server Keep Alive, Assigned Client Identifier). Written from the OASIS MQTT
Version 5.0 standard, sections 2.2.2 (properties), 2.4 (reason codes) and 3.1-3.14 (packets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.mqtt.packets import ProtocolViolation, Will, remaining_length

__all__ = [
    "PROTOCOL_LEVEL",
    "Connack",
    "PublishProperties",
    "TopicAliases",
    "encode_connect",
    "encode_puback",
    "encode_publish",
    "encode_subscribe",
    "parse_connack",
    "parse_disconnect",
    "parse_puback",
    "parse_publish",
    "parse_suback",
    "reason_text",
]

PROTOCOL_LEVEL = 5

# Property identifiers (section 2.2.2.2) and how their values are encoded.
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
SERVER_KEEP_ALIVE = 0x13
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27

_BYTE, _TWO, _FOUR, _VARINT, _STRING, _BINARY, _PAIR = range(7)
_KINDS: dict[int, int] = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _STRING, 0x08: _STRING, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _FOUR, 0x12: _STRING, 0x13: _TWO, 0x15: _STRING, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _FOUR, 0x19: _BYTE, 0x1A: _STRING, 0x1C: _STRING, 0x1F: _STRING, 0x21: _TWO,
    0x22: _TWO, 0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE,
    0x29: _BYTE, 0x2A: _BYTE,
}

REASONS: dict[int, str] = {
    0x00: "success", 0x04: "disconnect with will message", 0x10: "no matching subscribers",
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorised", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8C: "bad authentication method",
    0x8D: "keep alive timeout", 0x8E: "session taken over", 0x8F: "topic filter invalid",
    0x90: "topic name invalid", 0x91: "packet identifier in use",
    0x92: "packet identifier not found", 0x93: "receive maximum exceeded",
    0x94: "topic alias invalid", 0x95: "packet too large", 0x96: "message rate too high",
    0x97: "quota exceeded", 0x98: "administrative action", 0x99: "payload format invalid",
    0x9A: "retain not supported", 0x9B: "QoS not supported", 0x9C: "use another server",
    0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}


def reason_text(code: int, reason_string: str | None = None) -> str:
    """``"quota exceeded (0x97)"``, with the server's own reason string when it sent one."""
    text = f"{REASONS.get(code, 'unknown reason')} (0x{code:02X})"
    return f"{text}: {reason_string}" if reason_string else text


# --- properties ------------------------------------------------------------------------------

def _string(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("a string field is longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def _properties(props: list[tuple[int, int | bytes]]) -> bytes:
    """Encoded properties with their length prefix; ``bytes`` values are strings/binary."""
    out = bytearray()
    for ident, value in props:
        out.append(ident)
        kind = _KINDS[ident]
        if isinstance(value, bytes):
            out += _string(value)
        elif kind == _BYTE:
            out.append(value)
        elif kind == _TWO:
            out += value.to_bytes(2, "big")
        elif kind == _FOUR:
            out += value.to_bytes(4, "big")
        else:
            out += remaining_length(value)
    return remaining_length(len(out)) + bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    for i in range(pos, min(pos + 4, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ProtocolViolation("malformed variable byte integer")


def _take(data: bytes, pos: int, n: int) -> tuple[bytes, int]:
    if pos + n > len(data):
        raise ProtocolViolation("packet shorter than its fields")
    return data[pos:pos + n], pos + n


def _take_string(data: bytes, pos: int) -> tuple[bytes, int]:
    head, pos = _take(data, pos, 2)
    return _take(data, pos, int.from_bytes(head, "big"))


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolViolation("a string property is not UTF-8") from None


def parse_properties(data: bytes, pos: int) -> tuple[dict[int, int | str], int]:
    """The properties at ``pos`` (user properties and binary data skipped) and the end."""
    length, pos = _varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolViolation("properties longer than the packet")
    found: dict[int, int | str] = {}
    while pos < end:
        ident, pos = _varint(data, pos)
        kind = _KINDS.get(ident)
        if kind is None:
            raise ProtocolViolation(f"unknown property 0x{ident:02X}")
        value: int | str
        if kind == _BYTE:
            raw, pos = _take(data, pos, 1)
            value = raw[0]
        elif kind in (_TWO, _FOUR):
            raw, pos = _take(data, pos, 2 if kind == _TWO else 4)
            value = int.from_bytes(raw, "big")
        elif kind == _VARINT:
            value, pos = _varint(data, pos)
        elif kind == _STRING:
            raw, pos = _take_string(data, pos)
            value = _text(raw)
        elif kind == _BINARY:
            _, pos = _take_string(data, pos)
            continue
        else:  # a user property: a pair of strings, which we do not use
            _, pos = _take_string(data, pos)
            _, pos = _take_string(data, pos)
            continue
        if pos > end:
            raise ProtocolViolation("a property runs past the properties")
        found[ident] = value
    if pos != end:
        raise ProtocolViolation("properties longer than their length")
    return found, end


# --- what the client sends -------------------------------------------------------------------

def encode_connect(
    client_id: str, keepalive: int, *, will: Will | None = None, username: str | None = None,
    password: str | None = None, clean_start: bool = True, session_expiry: int = 0,
    receive_maximum: int | None = None, will_expiry: int | None = None,
) -> bytes:
    """CONNECT (3.1). ``session_expiry`` seconds (0: the session ends with the connection)."""
    flags = 0x02 if clean_start else 0
    props: list[tuple[int, int | bytes]] = []
    if session_expiry:
        props.append((SESSION_EXPIRY, session_expiry))
    if receive_maximum is not None:
        props.append((RECEIVE_MAXIMUM, receive_maximum))
    payload = _string(client_id.encode())
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        will_props: list[tuple[int, int | bytes]] = []
        if will_expiry is not None:
            will_props.append((MESSAGE_EXPIRY, will_expiry))
        payload += (_properties(will_props) + _string(will.topic.encode())
                    + _string(will.payload))
    if username is not None:
        flags |= 0x80
        payload += _string(username.encode())
    if password is not None:
        flags |= 0x40
        payload += _string(password.encode())
    body = (b"\x00\x04MQTT\x05" + bytes((flags,)) + keepalive.to_bytes(2, "big")
            + _properties(props) + payload)
    return b"\x10" + remaining_length(len(body)) + body


@dataclass(frozen=True)
class PublishProperties:
    """What a reading's PUBLISH carries: its expiry and, once the server knows it, an alias."""

    message_expiry: int | None = None
    topic_alias: int | None = None

    def encode(self) -> bytes:
        props: list[tuple[int, int | bytes]] = []
        if self.message_expiry is not None:
            props.append((MESSAGE_EXPIRY, self.message_expiry))
        if self.topic_alias is not None:
            props.append((TOPIC_ALIAS, self.topic_alias))
        return _properties(props)


def encode_publish(
    topic: bytes, payload: bytes, qos: int = 0, packet_id: int = 0, *, retain: bool = False,
    dup: bool = False, properties: bytes = b"\x00",
) -> bytes:
    """One PUBLISH (3.3); ``topic`` is length-prefixed (``b"\\x00\\x00"`` with an alias set)."""
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    pid = packet_id.to_bytes(2, "big") if qos else b""
    body_length = len(topic) + len(pid) + len(properties) + len(payload)
    return bytes((first,)) + remaining_length(body_length) + topic + pid + properties + payload


def encode_subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    """SUBSCRIBE (3.8): no properties; options = the maximum QoS only."""
    body = (packet_id.to_bytes(2, "big") + b"\x00" + _string(topic_filter.encode())
            + bytes((qos,)))
    return b"\x82" + remaining_length(len(body)) + body


def encode_puback(packet_id: int) -> bytes:
    """PUBACK (3.4) for an incoming QoS 1 message: success, no properties (short form)."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


class TopicAliases:
    """Topic aliases for what we publish (3.3.2.3.4): the first ``maximum`` topics get an alias
    and are sent once in full; later PUBLISHes carry the alias and an empty topic. Aliases
    last for one connection (packets on it arrive in order, so the server always saw the
    full topic first): make a new instance on every connect."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._aliases: dict[str, int] = {}

    def alias(self, topic: str) -> tuple[int | None, bool]:
        """``(alias, known)``: ``known`` means the server has seen the topic with it."""
        alias = self._aliases.get(topic)
        if alias is not None:
            return alias, True
        if len(self._aliases) >= self.maximum:
            return None, False
        alias = len(self._aliases) + 1
        self._aliases[topic] = alias
        return alias, False


# --- what the client receives ----------------------------------------------------------------

@dataclass(frozen=True)
class Connack:
    """CONNACK (3.2) with the server's limits (defaults where the server sent none)."""

    session_present: bool
    reason: int
    receive_maximum: int = 65535
    topic_alias_maximum: int = 0
    maximum_packet_size: int | None = None
    maximum_qos: int = 2
    retain_available: bool = True
    server_keep_alive: int | None = None
    assigned_client_id: str | None = None
    session_expiry: int | None = None
    reason_string: str | None = None
    properties: dict[int, int | str] = field(default_factory=dict)


def _int(props: dict[int, int | str], ident: int) -> int | None:
    value = props.get(ident)
    if value is not None and not isinstance(value, int):
        raise ProtocolViolation(f"property 0x{ident:02X} has the wrong type")
    return value


def _str(props: dict[int, int | str], ident: int) -> str | None:
    value = props.get(ident)
    return value if isinstance(value, str) else None


def parse_connack(body: bytes) -> Connack:
    if len(body) == 2:  # a 3.1.1-only server refusing level 5 answers in its own format
        if body[0] & 0xFE:
            raise ProtocolViolation("CONNACK reserved flags set")
        return Connack(session_present=bool(body[0]), reason=0x84 if body[1] == 1 else body[1])
    if len(body) < 3 or body[0] & 0xFE:
        raise ProtocolViolation("malformed CONNACK")
    props, end = parse_properties(body, 2)
    if end != len(body):
        raise ProtocolViolation("CONNACK longer than its properties")
    receive_maximum = _int(props, RECEIVE_MAXIMUM)
    if receive_maximum == 0:
        raise ProtocolViolation("CONNACK Receive Maximum of 0")
    maximum_qos = _int(props, MAXIMUM_QOS)
    retain = _int(props, RETAIN_AVAILABLE)
    if (maximum_qos is not None and maximum_qos > 1) or (retain is not None and retain > 1):
        raise ProtocolViolation("CONNACK Maximum QoS or Retain Available out of range")
    packet_size = _int(props, MAXIMUM_PACKET_SIZE)
    if packet_size == 0:
        raise ProtocolViolation("CONNACK Maximum Packet Size of 0")
    return Connack(
        session_present=bool(body[0] & 0x01),
        reason=body[1],
        receive_maximum=receive_maximum if receive_maximum is not None else 65535,
        topic_alias_maximum=_int(props, TOPIC_ALIAS_MAXIMUM) or 0,
        maximum_packet_size=packet_size,
        maximum_qos=maximum_qos if maximum_qos is not None else 2,
        retain_available=retain != 0,
        server_keep_alive=_int(props, SERVER_KEEP_ALIVE),
        assigned_client_id=_str(props, ASSIGNED_CLIENT_ID),
        session_expiry=_int(props, SESSION_EXPIRY),
        reason_string=_str(props, REASON_STRING),
        properties=props,
    )


def _reason_and_string(body: bytes, pos: int) -> tuple[int, str | None]:
    """A reason code at ``pos`` (absent: success) and the optional properties after it."""
    if len(body) <= pos:
        return 0, None
    reason = body[pos]
    if len(body) == pos + 1:
        return reason, None
    props, end = parse_properties(body, pos + 1)
    if end != len(body):
        raise ProtocolViolation("packet longer than its properties")
    return reason, _str(props, REASON_STRING)


def parse_puback(body: bytes) -> tuple[int, int, str | None]:
    """PUBACK (3.4): ``(packet id, reason code, reason string)``; a code >= 0x80 is a refusal."""
    if len(body) < 2:
        raise ProtocolViolation("PUBACK shorter than its packet identifier")
    reason, text = _reason_and_string(body, 2)
    return int.from_bytes(body[:2], "big"), reason, text


def parse_suback(body: bytes) -> tuple[int, list[int]]:
    """SUBACK (3.9): ``(packet id, one reason code per filter)``."""
    if len(body) < 3:
        raise ProtocolViolation("SUBACK too short")
    _, end = parse_properties(body, 2)
    codes = list(body[end:])
    if not codes:
        raise ProtocolViolation("SUBACK without reason codes")
    return int.from_bytes(body[:2], "big"), codes


def parse_disconnect(body: bytes) -> tuple[int, str | None]:
    """A server's DISCONNECT (3.14): ``(reason code, reason string)``."""
    return _reason_and_string(body, 0)


def parse_publish(flags: int, body: bytes) -> tuple[str, bytes, int, int, bool]:
    """An incoming PUBLISH: ``(topic, payload, qos, packet id or 0, retain)``. We announce no
    Topic Alias Maximum, so a server must not send us an alias (3.3.2.3.4)."""
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise ProtocolViolation("PUBLISH with QoS 3")
    raw, pos = _take_string(body, 0)
    topic = _text(raw)
    pid = 0
    if qos:
        head, pos = _take(body, pos, 2)
        pid = int.from_bytes(head, "big")
        if pid == 0:
            raise ProtocolViolation("PUBLISH with packet identifier 0")
    props, pos = parse_properties(body, pos)
    if TOPIC_ALIAS in props or not topic:
        raise ProtocolViolation("PUBLISH with a topic alias we did not allow")
    return topic, body[pos:], qos, pid, bool(flags & 0x01)
