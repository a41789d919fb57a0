"""A lean MQTT 3.1.1 publishing client on :class:`asyncio.Protocol` (the default data path).

Why: aiomqtt over paho spends ~120 us of CPU per QoS 1 publish on this kind of machine (a
future, a task, paho's in-flight bookkeeping; see bench/RESULTS.md), which caps a gateway at
~8-15k readings/s. This client does only what the publisher needs, without a task or future per
message:

- CONNECT with last will, credentials, keepalive, clean session; TLS through an ``ssl`` context;
- PUBLISH at QoS 0 and 1 with packet ids and a bounded in-flight window; every batch taken from
  the buffer is encoded into one buffer and written with one ``transport.write``;
- PUBACKs are matched to their entries in ``data_received`` and handed back in batches
  (``on_acked``): a reading is acknowledged only after its PUBACK (QoS 1), or once it was handed
  to the live connection (QoS 0), exactly as with aiomqtt;
- PINGREQ when the client has sent nothing for keepalive/2 (the keepalive counts what the
  client sends, [MQTT-3.1.2-23], however much it receives) or heard nothing for as long; a
  connection that stays silent for 1.5 x keepalive is declared dead (a paused or half-open
  broker is noticed);
- transport flow control (``pause_writing``) stops taking readings while the socket is backed up.

- SUBSCRIBE (waits for the SUBACK) and incoming PUBLISH at QoS 0/1 (PUBACKed), handed to
  ``on_message(topic, payload, retained)``: the session listens to a few topics (Home Assistant's
  status), never at a rate that matters.

Anything else the broker sends is framed and ignored.

MQTT 5 (``protocol=5``, :mod:`gateway.mqtt.v5`) on the same shape: the server's Receive Maximum
caps the window, its Server Keep Alive replaces ours, reading topics go out once per connection
and then as topic aliases (up to its Topic Alias Maximum), a reading larger than its Maximum
Packet Size is not sent, and reason codes are read: a PUBACK refusing a reading for good (not
authorised, topic invalid, too large, payload format) hands it to ``on_rejected``; a refusal
that may pass (quota exceeded, busy, rate) drops the connection, so the window is sent again
after the backoff; a server's DISCONNECT names its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.core.timers import next_grid_point
from gateway.errors import BrokerDown, MqttConnectionLost, MqttNotAuthorised, MqttRefused
from gateway.mqtt import v5
from gateway.mqtt.packets import (
    CONNACK,
    CONNACK_REASONS,
    DISCONNECT,
    PACKET_NAMES,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    UNEXPECTED_BUT_HARMLESS,
    PacketReader,
    ProtocolViolation,
    Will,
    check_incoming,
    connack_code,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    only_pubacks,
    packet_id,
    parse_publish,
    remaining_length,
    topic_field,
)
from gateway.mqtt.quarantine import HANG_UP_WINDOW, likeliest

__all__ = ["NOT_SENT", "LeanClient", "Message", "MessageHandler", "Mqtt5Options", "Publishable",
           "Will", "lean_connect", "not_authorised"]

log = logging.getLogger("gateway.mqtt")
_noted: set[int] = set()  # unexpected packet types already logged (once per process)

# Packet identifiers are 16 bits: the readings' window, the status publishes and the
# subscriptions (one at a time) share 65535 of them, so they cannot run out by construction.
STATUS_WINDOW = 500  # status and retained publishes awaiting their PUBACK at once
RECEIVE_BUFFER = 64 * 1024  # bytes read from the socket at most at once
MAX_WINDOW = 0xFFFF - STATUS_WINDOW - 35
TOPIC_CACHE_MAX = 100_000
# Linux: ACK what the broker sends at once instead of up to 40 ms later. A broker with Nagle's
# algorithm on (Mosquitto's default) holds its later PUBACKs until our ACK comes: with delayed
# ACKs they arrive 40 ms late, each batch's PUBACKs in two parts, two wake-ups instead of one.
# The kernel clears the flag as it goes, so it is set again after every read.
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class Publishable(Protocol):
    """What the client sends: a buffer entry (topic, encoded payload)."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


MessageHandler = Callable[[str, bytes, bool], None]
# on_rejected(entry, kind, why): a message that is not sent (again), for good. ``kind`` is the
# metric label: "too_large", "unencodable" or "refused" (an MQTT 5 PUBACK reason code).
RejectHandler = Callable[[Publishable, str, str], None]
TOO_LARGE = "too_large"
UNENCODABLE = "unencodable"
REFUSED = "refused"
# CONNACK codes meaning "these credentials / this client may not": 3.1.1 (4, 5) and MQTT 5.
AUTH_REFUSALS = frozenset({4, 5, 0x86, 0x87, 0x8C})

DISCONNECT_PACKET = 14
# PUBACK reason codes that refuse this message for good: resending it cannot help.
PERMANENT_REFUSALS = frozenset({0x87, 0x90, 0x95, 0x99, 0x9A, 0x9B})
STATUS_RESERVE = 8  # MQTT 5: Receive Maximum slots kept for status publishes and subscribes
assert MAX_WINDOW + STATUS_WINDOW < 0xFFFF
NOT_SENT = b"\xff"  # a status publish's result when it was not sent or was refused (else b"")


@dataclass(frozen=True)
class Message:
    """A status or retained message (not a buffer entry), as ``on_rejected`` gets it."""

    topic: str
    payload: bytes


class _RefusedForNow(Exception):
    """An MQTT 5 PUBACK refusing a reading for a reason that may pass (quota, rate, busy)."""


def _ignore(_topic: str, _payload: bytes, _retained: bool) -> None:
    return None


def _drop(_entry: Publishable, _kind: str, _reason: str) -> None:
    return None


class LeanClient(asyncio.BufferedProtocol):
    """One connection. Build it with :func:`lean_connect`.

    A buffered protocol: the transport reads into one buffer of ours (``recv_into``) instead
    of allocating a 256 KiB ``bytes`` for every read and shrinking it (three system calls per
    read of a few PUBACKs)."""

    def __init__(self, keepalive: float, window: int,
                 on_acked: Callable[[list[Publishable]], None],
                 on_message: MessageHandler = _ignore, *, protocol: int = 4,
                 on_rejected: RejectHandler = _drop,
                 message_expiry: int | None = None,
                 max_packet_size: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.keepalive = keepalive
        self.window = max(1, min(window, MAX_WINDOW))
        self.status_window = STATUS_WINDOW  # status publishes awaiting a PUBACK, at most
        self._on_acked = on_acked
        self._on_message = on_message
        self._on_rejected = on_rejected
        self.protocol = protocol
        self.server = v5.Connack(session_present=False, reason=0)  # what the server allows
        self._configured_limit = max_packet_size  # [mqtt] max_packet_size
        self.max_packet_size = max_packet_size  # and the server's own (MQTT 5), the smaller
        self._aliases = v5.TopicAliases(0)
        self._message_expiry = message_expiry
        self._expiry = v5.PublishProperties(message_expiry=message_expiry).encode()
        self._v5_props: dict[str, tuple[bytes, bytes]] = {}  # topic -> (field, properties)
        self._reader = PacketReader()
        self._received = memoryview(bytearray(RECEIVE_BUFFER))
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[v5.Connack] = loop.create_future()
        self._error: MqttConnectionLost | None = None
        self._dead = asyncio.Event()
        self._inflight: dict[int, Publishable] = {}
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._statuses: dict[int, tuple[str, bytes]] = {}  # status publishes awaiting PUBACK
        # (topic, payload) of the message the broker hung up on, as far as can be told: the
        # largest unacknowledged one when it closed the connection right after we wrote.
        self.hung_up_on: tuple[str, bytes] | None = None
        self._next_id = 0
        self._topics: dict[str, bytes] = {}
        self._room = asyncio.Event()
        self._room.set()
        self._paused = False
        self._last_recv = self._last_sent = loop.time()
        self._sock: socket.socket | None = None
        self.pings_answered = 0
        self.pings_sent = 0

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sock = transport.get_extra_info("socket") if _QUICKACK is not None else None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._received

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._received[:nbytes])  # the reader copies what it keeps

    def data_received(self, data: bytes | memoryview) -> None:
        if self._sock is not None and _QUICKACK is not None:  # acknowledge at once
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        self._last_recv = self._loop.time()
        acked: list[Publishable] = []
        ready = self._connack.done()
        try:
            if ready and self.protocol != 5 and self._reader.idle and only_pubacks(data):
                self._pubacks(data, acked)  # nothing but PUBACKs: no framing needed
                return
            for kind, flags, body in self._reader.packets(data):
                if kind == PUBACK and ready and not flags:  # the hot path: checked below
                    self._puback(body, acked)
                else:
                    self._packet(kind, flags, body, acked)
                    ready = self._connack.done()
        except ProtocolViolation as exc:
            self._fail(f"protocol error from the broker: {exc}")
        except _RefusedForNow as exc:  # the window goes again after the backoff
            self._fail(str(exc))
        finally:
            if acked:  # what the broker confirmed before any bad packet stays confirmed
                self._on_acked(acked)
                self._update_room()

    def _packet(self, kind: int, flags: int, body: bytes, acked: list[Publishable]) -> None:
        """Any packet but a well-formed PUBACK after the CONNACK. What the specification
        forbids raises :class:`ProtocolViolation` (the connection is dropped); what is merely
        unexpected (a QoS 2 or UNSUBSCRIBE answer we never asked for) is ignored, said once."""
        check_incoming(kind, flags, self.protocol)
        if not self._connack.done() and kind != CONNACK:
            raise ProtocolViolation(f"{PACKET_NAMES[kind]} before CONNACK [MQTT-3.2.0-1]")
        if kind == PUBACK:
            self._puback(body, acked)
        elif kind == PUBLISH:
            self._incoming(flags, body)
        elif kind == SUBACK:
            self._suback(body)
        elif kind == PINGRESP:
            self.pings_answered += 1
        elif kind == CONNACK:
            if self._connack.done():
                raise ProtocolViolation("a second CONNACK")
            self._connack.set_result(self._parse_connack(body))
        elif kind == DISCONNECT_PACKET:  # MQTT 5 (check_incoming refuses it in 3.1.1)
            reason, text = v5.parse_disconnect(body)
            self._fail(f"disconnected by the broker: {v5.reason_text(reason, text)}")
        elif kind in UNEXPECTED_BUT_HARMLESS and kind not in _noted:
            _noted.add(kind)
            log.warning("ignored a %s from the broker: the gateway never asks for one "
                        "(logged once)", PACKET_NAMES[kind])

    def _parse_connack(self, body: bytes) -> v5.Connack:
        if self.protocol == 5:
            connack = v5.parse_connack(body)
        else:
            connack = v5.Connack(session_present=bool(body[:1] == b"\x01"),
                                 reason=connack_code(body))
        if connack.session_present:  # we always ask for a clean session (3.2.2.2, 3.2.2.1.1)
            raise ProtocolViolation("CONNACK with Session Present on a clean session")
        return connack

    def _pubacks(self, data: bytes | memoryview, acked: list[Publishable]) -> None:
        """Whole MQTT 3.1.1 PUBACKs only (:func:`only_pubacks`): what :meth:`_puback` does
        for each, without a body of its own."""
        inflight = self._inflight
        for i in range(2, len(data), 4):
            pid = data[i] << 8 | data[i + 1]
            entry = inflight.pop(pid, None)
            if entry is not None:
                acked.append(entry)
            else:
                self._resolve(pid, b"")

    def _puback(self, body: bytes, acked: list[Publishable]) -> None:
        if self.protocol != 5:
            pid, reason, text = packet_id(body), 0, None
        else:
            pid, reason, text = v5.parse_puback(body)
        entry = self._inflight.pop(pid, None)
        if reason < 0x80:
            if entry is not None:
                acked.append(entry)
            else:
                self._resolve(pid, b"")
            return
        why = v5.reason_text(reason, text)
        if reason not in PERMANENT_REFUSALS:  # may pass: resend the window after the backoff
            if entry is not None:
                self._inflight[pid] = entry
            raise _RefusedForNow(f"the broker refused a reading for now: {why}")
        if entry is not None:
            self._on_rejected(entry, REFUSED, why)
        else:  # a status publish: its waiter learns, the session goes on
            self._resolve(pid, NOT_SENT)

    def _suback(self, body: bytes) -> None:
        if self.protocol == 5:
            pid, codes = v5.parse_suback(body)
            self._resolve(pid, bytes(codes))
        else:
            self._resolve(packet_id(body[:2]), body[2:])

    def _resolve(self, pid: int, result: bytes) -> None:
        waiter = self._waiting.pop(pid, None)
        self._statuses.pop(pid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _incoming(self, flags: int, body: bytes) -> None:
        parse = v5.parse_publish if self.protocol == 5 else parse_publish
        topic, payload, qos, pid, retained = parse(flags, body)
        if qos == 2:
            raise ProtocolViolation("QoS 2 PUBLISH on a QoS 1 subscription")
        self._on_message(topic, payload, retained)
        if qos == 1:
            self._write(encode_puback(pid))

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            self._lost("connection reset by the broker")
        else:
            self._lost(f"connection lost: {exc}" if exc else "connection closed by the broker")

    def _lost(self, reason: str) -> None:
        """The broker closed or reset the connection. If that came right after we wrote, it
        may be its answer to one message: :attr:`hung_up_on` names the likeliest."""
        if self._error is None and self._loop.time() - self._last_sent < HANG_UP_WINDOW:
            self.hung_up_on = likeliest([
                *((entry.topic, entry.payload) for entry in self._inflight.values()),
                *self._statuses.values()])
        self._fail(reason)

    def pause_writing(self) -> None:
        self._paused = True
        self._update_room()

    def resume_writing(self) -> None:
        self._paused = False
        self._update_room()

    # --- state ------------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        if self._error is None:
            self._error = MqttConnectionLost(reason)
        self._dead.set()
        self._room.set()  # wake a waiting sender so it sees the error
        futures: list[asyncio.Future[v5.Connack] | asyncio.Future[bytes]] = [
            self._connack, *self._waiting.values()]
        for future in futures:
            if not future.done():
                future.set_exception(self._error)
                future.exception()  # whoever awaits it gets it; nobody else must log it
        self._waiting.clear()
        self._statuses.clear()
        if self._transport is not None:
            self._transport.abort()

    def _check(self) -> asyncio.Transport:
        if self._error is not None:
            raise self._error
        assert self._transport is not None
        return self._transport

    def _update_room(self) -> None:
        if self._error is not None or (
                not self._paused and len(self._inflight) < self.window):
            self._room.set()
        else:
            self._room.clear()

    def _new_id(self) -> int:
        """The next free packet identifier (1..65535). Bounded: with every identifier in use
        (the window and the subscriptions never get there) the connection is given up, so the
        session starts again, instead of looping forever."""
        pid = self._next_id
        for _ in range(0xFFFF):
            pid = pid % 0xFFFF + 1
            if pid not in self._inflight and pid not in self._waiting:
                self._next_id = pid
                return pid
        raise MqttConnectionLost("all 65535 packet identifiers are in use")

    def _topic(self, topic: str) -> bytes:
        field = self._topics.get(topic)
        if field is None:
            if len(self._topics) >= TOPIC_CACHE_MAX:
                self._topics.clear()
            field = self._topics[topic] = topic_field(topic)
        return field

    def _write(self, data: bytes | bytearray) -> None:
        transport = self._check()
        transport.write(data)
        self._last_sent = self._loop.time()
        if transport.is_closing():  # the send failed (reset): nothing more goes out on it
            self._lost("connection reset by the broker")
            self._check()  # raises: what was just written counts as not sent

    # --- the publisher's interface ---------------------------------------------------------

    async def room(self) -> int:
        """Wait until more can be sent; return how many more readings the window takes."""
        while not self._room.is_set():
            await self._room.wait()
        self._check()
        return max(1, self.window - len(self._inflight))

    def send(self, entries: list[Publishable], qos: int) -> None:
        """Publish ``entries`` with one socket write. QoS 0 entries count as acked at once.

        Every packet is encoded before any is registered as in flight, so a failure leaves no
        phantom packet identifier. An entry that cannot be encoded, or whose packet is larger
        than :attr:`max_packet_size`, is handed to ``on_rejected`` and the rest go."""
        self._check()
        encode = self._encode5 if self.protocol == 5 else self._encode4
        out, sent = encode(entries, qos)
        if qos:
            self._inflight.update(sent)
        if out:
            self._write(out)
        if qos:
            self._update_room()
        elif sent:
            self._on_acked([entry for _, entry in sent])

    def _encode4(self, entries: list[Publishable],
                 qos: int) -> tuple[bytearray, list[tuple[int, Publishable]]]:
        """MQTT 3.1.1 PUBLISH packets for ``entries``, one buffer, (packet id, entry) sent."""
        out = bytearray()
        sent: list[tuple[int, Publishable]] = []
        topic_of, new_id, limit = self._topic, self._new_id, self.max_packet_size
        first, id_size = (b"\x32", 2) if qos else (b"\x30", 0)
        for entry in entries:
            payload = entry.payload
            try:
                topic = topic_of(entry.topic)
                size = len(topic) + id_size + len(payload)
                header = remaining_length(size)
            except (ValueError, UnicodeError) as exc:
                self._on_rejected(entry, UNENCODABLE, f"cannot be sent as MQTT: {exc}")
                continue
            if limit is not None and 1 + len(header) + size > limit:
                self._too_large(entry, 1 + len(header) + size)
                continue
            pid = new_id() if qos else 0
            out += first
            out += header
            out += topic
            if qos:
                out += pid.to_bytes(2, "big")
            out += payload
            sent.append((pid, entry))
        return out, sent

    def _too_large(self, entry: Publishable, size: int) -> None:
        self._on_rejected(entry, TOO_LARGE, f"{size} bytes, more than the {self._limit_source} "
                                            f"of {self.max_packet_size}")

    @property
    def _limit_source(self) -> str:
        if self.max_packet_size == self._configured_limit:
            return "configured maximum ([mqtt] max_packet_size)"
        return "broker's Maximum Packet Size"

    def _encode5(self, entries: list[Publishable],
                 qos: int) -> tuple[bytearray, list[tuple[int, Publishable]]]:
        """MQTT 5: the same, with topic aliases and message expiry."""
        out = bytearray()
        sent: list[tuple[int, Publishable]] = []
        limit = self.max_packet_size
        for entry in entries:
            pid = self._new_id() if qos else 0  # registered only once the packet is in ``out``
            try:
                topic, props = self._publish_fields(entry.topic)
                packet = v5.encode_publish(topic, entry.payload, qos, pid, properties=props)
            except (ValueError, UnicodeError) as exc:
                self._v5_props.pop(entry.topic, None)
                self._on_rejected(entry, UNENCODABLE, f"cannot be sent as MQTT: {exc}")
                continue
            if limit is not None and len(packet) > limit:
                self._v5_props.pop(entry.topic, None)  # its alias was never set: not used
                self._too_large(entry, len(packet))
                continue
            sent.append((pid, entry))
            out += packet
        return out, sent

    def _publish_fields(self, topic: str) -> tuple[bytes, bytes]:
        """The topic field and properties of a reading's PUBLISH: the full topic with a new
        alias the first time, then an empty topic and the alias."""
        known = self._v5_props.get(topic)
        if known is not None:
            return known
        alias, _ = self._aliases.alias(topic)
        expiry = self._expiry
        if alias is None:
            return self._topic(topic), expiry
        props = v5.PublishProperties(
            message_expiry=self.message_expiry, topic_alias=alias).encode()
        self._v5_props[topic] = (b"\x00\x00", props)
        return self._topic(topic), props

    @property
    def message_expiry(self) -> int | None:
        return self._message_expiry

    def _encode_one(self, topic: str, data: bytes, qos: int, pid: int, retain: bool) -> bytes:
        """A status or retained message: the full topic, no alias, no expiry."""
        if self.protocol == 5:
            return v5.encode_publish(self._topic(topic), data, qos, pid, retain=retain)
        return encode_publish(self._topic(topic), data, qos, pid, retain=retain)

    async def publish(self, topic: str, payload: str | bytes, qos: int = 0,
                      retain: bool = False) -> None:
        """One publish outside the reading window (statuses); QoS 1 returns after the PUBACK."""
        data = payload.encode() if isinstance(payload, str) else payload
        if not qos:
            self._write(self._encode_one(topic, data, 0, 0, retain))
            return
        await self._request(lambda pid: self._encode_one(topic, data, 1, pid, retain))

    def publish_nowait(self, topic: str, payload: bytes, *,
                       retain: bool = False) -> asyncio.Future[bytes]:
        """Write one QoS 1 publish now (outside the reading window); the future completes
        with its PUBACK, or fails with the connection."""
        return self._request_nowait(
            lambda pid: self._encode_one(topic, payload, 1, pid, retain), (topic, payload))

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe; return once the broker granted it. A refusal (SUBACK failure code, e.g.
        the broker's ACL) raises :class:`MqttRefused`; the connection goes on."""
        encode = v5.encode_subscribe if self.protocol == 5 else encode_subscribe
        codes = await self._request(lambda pid: encode(pid, topic_filter, qos))
        if not codes or codes[0] >= 0x80:
            why = v5.reason_text(codes[0]) if codes and self.protocol == 5 else "failure (0x80)"
            raise MqttRefused(f"subscription to {topic_filter!r} refused by the broker: {why}")

    async def _request(self, packet: Callable[[int], bytes]) -> bytes:
        """Send a packet with a fresh packet id; wait for its PUBACK or SUBACK."""
        return await self._request_nowait(packet)

    def _request_nowait(self, packet: Callable[[int], bytes],
                        status: tuple[str, bytes] | None = None) -> asyncio.Future[bytes]:
        self._check()
        pid = self._new_id()
        data = packet(pid)
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        limit = self.max_packet_size
        if status is not None and limit is not None and len(data) > limit:
            # the broker would cut the connection for it: it is not sent
            self._too_large(Message(*status), len(data))
            waiter.set_result(NOT_SENT)
            return waiter
        if status is not None:
            self._statuses[pid] = status
        self._waiting[pid] = waiter
        self._write(data)
        return waiter

    async def supervise(self) -> None:
        """Keep the connection alive; raise :class:`MqttConnectionLost` once it is not.

        It sleeps until the first thing that could be due (a ping, a broker silent too long),
        woken on a grid of ``min(1 s, keepalive / 4)``: an idle gateway's other timers (1 s
        device ticks) share the wake-up, and a busy one is not woken every second for nothing.
        """
        keepalive = self.keepalive
        grid = max(0.05, min(1.0, keepalive / 4))
        pinged = self._loop.time()
        while True:
            now = self._loop.time()
            # [MQTT-3.1.2-23]: the keepalive counts what the client *sent*; a client that only
            # receives must still ping. A quiet broker is probed as well.
            due = min(self._last_recv + 1.5 * keepalive, self._last_sent + keepalive / 2,
                      max(self._last_recv, pinged) + keepalive / 2)
            with contextlib.suppress(TimeoutError):  # the first grid point from ``due`` on
                async with asyncio.timeout(
                        next_grid_point(grid, max(now, due) - 0.02 * grid) - now):
                    await self._dead.wait()
            self._check()
            now = self._loop.time()
            if now - self._last_recv >= 1.5 * keepalive:
                self._fail(f"no answer from the broker for {now - self._last_recv:.1f}s "
                           f"(keepalive {keepalive:g}s)")
                self._check()
            soon = now + 0.02 * grid  # a grid point a hair before ``due`` counts as it
            if (soon - self._last_sent >= keepalive / 2
                    or soon - max(self._last_recv, pinged) >= keepalive / 2):
                self._write(PINGREQ)
                self.pings_sent += 1
                pinged = now

    def inflight(self) -> int:
        return len(self._inflight)

    async def _await_connack(self) -> v5.Connack:
        connack = await self._connack
        if self.protocol == 5 and not connack.reason:
            self._adopt(connack)
        return connack

    def _adopt(self, connack: v5.Connack) -> None:
        """MQTT 5: take the server's limits for this connection."""
        self.server = connack
        if connack.maximum_packet_size is not None:
            self.max_packet_size = min(connack.maximum_packet_size,
                                       self._configured_limit or connack.maximum_packet_size)
        self.window = max(1, min(self.window, connack.receive_maximum - STATUS_RESERVE))
        self.status_window = min(STATUS_WINDOW, max(1, connack.receive_maximum - self.window))
        if connack.server_keep_alive is not None:
            self.keepalive = connack.server_keep_alive or self.keepalive
        self._aliases = v5.TopicAliases(connack.topic_alias_maximum)
        self._update_room()

    def close(self) -> None:
        """A clean goodbye (DISCONNECT: the broker discards the will), then close."""
        if self._transport is not None and self._error is None:
            self._transport.write(DISCONNECT)  # the same bytes in 5: reason 0, normal
            self._transport.close()
        self._error = self._error or MqttConnectionLost("closed")


@dataclass(frozen=True)
class Mqtt5Options:
    """What only MQTT 5 has (``None`` in :func:`lean_connect`: MQTT 3.1.1)."""

    session_expiry: int = 0
    message_expiry: int | None = None


@contextlib.asynccontextmanager
async def lean_connect(
    host: str, port: int, *, client_id: str, keepalive: int, window: int,
    on_acked: Callable[[list[Publishable]], None], on_message: MessageHandler = _ignore,
    will: Will | None = None,
    username: str | None = None, password: str | None = None,
    tls: ssl.SSLContext | None = None, connect_timeout: float = 10.0,
    mqtt5: Mqtt5Options | None = None, on_rejected: RejectHandler = _drop,
    max_packet_size: int | None = None,
) -> AsyncIterator[LeanClient]:
    """Connect, send CONNECT, wait for a successful CONNACK; DISCONNECT on the way out."""
    loop = asyncio.get_running_loop()
    if mqtt5 is None:
        client = LeanClient(keepalive, window, on_acked, on_message, on_rejected=on_rejected,
                            max_packet_size=max_packet_size)
        connect = encode_connect(client_id, keepalive, will=will, username=username,
                                 password=password)
    else:
        client = LeanClient(keepalive, window, on_acked, on_message, protocol=5,
                            on_rejected=on_rejected, message_expiry=mqtt5.message_expiry,
                            max_packet_size=max_packet_size)
        connect = v5.encode_connect(client_id, keepalive, will=will, username=username,
                                    password=password, session_expiry=mqtt5.session_expiry)
    try:
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(lambda: client, host, port, ssl=tls,
                                         server_hostname=host if tls else None)
            client._write(connect)
            connack = await client._await_connack()
    except (OSError, TimeoutError) as exc:
        answered = client._transport is not None
        client._fail("connect failed")
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        if answered and isinstance(exc, TimeoutError):
            reason = f"no CONNACK within {connect_timeout:g}s"
            if mqtt5 is not None:  # amqtt, for one, says nothing to an MQTT 5 CONNECT
                reason += ('; the broker may not speak MQTT 5 (set [mqtt] protocol = '
                           '"3.1.1")')
        error = BrokerDown if isinstance(exc, ConnectionRefusedError) else MqttConnectionLost
        raise error(f"cannot connect: {reason}") from None
    except MqttConnectionLost as exc:
        if not str(exc).startswith("connection"):  # a protocol error, not a hang-up
            raise
        raise MqttRefused(_hung_up(str(exc), will)) from None
    except BaseException:
        client._fail("connect aborted")
        raise
    refusal = _refusal(connack, mqtt5 is not None)
    if refusal is not None:
        client._fail("refused")
        if connack.reason in AUTH_REFUSALS:
            raise not_authorised(refusal)
        raise MqttRefused(refusal)
    try:
        yield client
    finally:
        client.close()


def not_authorised(refusal: str) -> MqttNotAuthorised:
    """A refused login, with what to check (one text for both data paths)."""
    return MqttNotAuthorised(f"{refusal}; check [mqtt] username and password (or "
                             "password_file), and the broker's password file and ACL for "
                             "this user")


def _hung_up(how: str, will: Will | None) -> str:
    """Why a broker may close the connection instead of answering CONNECT (MQTT 3.1.1 has no
    CONNACK code for most refusals: Mosquitto, for one, just disconnects)."""
    why = f"the broker closed the connection instead of answering CONNECT ({how})"
    if will is None:
        return f"{why}; check the broker's log"
    return (f"{why}: it may refuse the last will (QoS {will.qos}, "
            f"{'retained' if will.retain else 'not retained'}; a broker with max_qos 0 or "
            "retain_available false does), see [mqtt] will_qos and will_retain, or something "
            "else in CONNECT; check the broker's log")


def _refusal(connack: v5.Connack, mqtt5: bool) -> str | None:
    """Why a CONNACK means we cannot go on (None: we can)."""
    code = connack.reason
    if not mqtt5:
        return (f"connection refused: {CONNACK_REASONS.get(code, f'code {code}')}"
                if code else None)
    if code == 0x84:
        return ("connection refused: the broker does not speak MQTT 5 "
                '(unsupported protocol version); set [mqtt] protocol = "3.1.1"')
    if code:
        return f"connection refused: {v5.reason_text(code, connack.reason_string)}"
    if connack.maximum_qos == 0:
        return ("the broker accepts QoS 0 only (its Maximum QoS); the gateway's statuses "
                "need QoS 1")
    if not connack.retain_available:
        return ("the broker keeps no retained messages (Retain Available 0); the gateway's "
                "statuses and Home Assistant discovery need them")
    return None
