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
- PINGREQ when the connection has been quiet, and a connection that stays silent for 1.5 x
  keepalive is declared dead (a paused or half-open broker is noticed);
- transport flow control (``pause_writing``) stops taking readings while the socket is backed up.

- SUBSCRIBE (waits for the SUBACK) and incoming PUBLISH at QoS 0/1 (PUBACKed), handed to
  ``on_message(topic, payload, retained)``: the session listens to a few topics (Home Assistant's
  status), never at a rate that matters.

Anything else the broker sends is framed and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from gateway.errors import MqttConnectionLost, MqttRefused
from gateway.mqtt.packets import (
    CONNACK,
    CONNACK_REASONS,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    PacketReader,
    ProtocolViolation,
    Will,
    connack_code,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    packet_id,
    parse_publish,
    remaining_length,
    topic_field,
)

__all__ = ["LeanClient", "MessageHandler", "Publishable", "Will", "lean_connect"]

MAX_WINDOW = 65_000  # packet ids are 16 bits; leave room for status publishes
TOPIC_CACHE_MAX = 100_000


class Publishable(Protocol):
    """What the client sends: a buffer entry (topic, encoded payload)."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


MessageHandler = Callable[[str, bytes, bool], None]


def _ignore(_topic: str, _payload: bytes, _retained: bool) -> None:
    return None


class LeanClient(asyncio.Protocol):
    """One connection. Build it with :func:`lean_connect`."""

    def __init__(self, keepalive: float, window: int,
                 on_acked: Callable[[list[Publishable]], None],
                 on_message: MessageHandler = _ignore) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.keepalive = keepalive
        self.window = max(1, min(window, MAX_WINDOW))
        self._on_acked = on_acked
        self._on_message = on_message
        self._reader = PacketReader()
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[int] = loop.create_future()
        self._error: MqttConnectionLost | None = None
        self._dead = asyncio.Event()
        self._inflight: dict[int, Publishable] = {}
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._next_id = 0
        self._topics: dict[str, bytes] = {}
        self._room = asyncio.Event()
        self._room.set()
        self._paused = False
        self._last_recv = self._last_sent = loop.time()
        self.pings_answered = 0

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._last_recv = self._loop.time()
        acked: list[Publishable] = []
        try:
            for kind, flags, body in self._reader.packets(data):
                if kind == PUBACK:
                    self._puback(packet_id(body), acked)
                elif kind == PUBLISH:
                    self._incoming(flags, body)
                elif kind == SUBACK:
                    self._resolve(packet_id(body[:2]), body[2:])
                elif kind == PINGRESP:
                    self.pings_answered += 1
                elif kind == CONNACK and not self._connack.done():
                    self._connack.set_result(connack_code(body))
        except ProtocolViolation as exc:
            self._fail(f"protocol error from the broker: {exc}")
        finally:
            if acked:  # what the broker confirmed before any bad packet stays confirmed
                self._on_acked(acked)
                self._update_room()

    def _puback(self, pid: int, acked: list[Publishable]) -> None:
        entry = self._inflight.pop(pid, None)
        if entry is not None:
            acked.append(entry)
        else:
            self._resolve(pid, b"")

    def _resolve(self, pid: int, result: bytes) -> None:
        waiter = self._waiting.pop(pid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _incoming(self, flags: int, body: bytes) -> None:
        topic, payload, qos, pid, retained = parse_publish(flags, body)
        if qos == 2:
            raise ProtocolViolation("QoS 2 PUBLISH on a QoS 1 subscription")
        self._on_message(topic, payload, retained)
        if qos == 1:
            self._write(encode_puback(pid))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}" if exc else "connection closed by the broker")

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
        futures: list[asyncio.Future[int] | asyncio.Future[bytes]] = [
            self._connack, *self._waiting.values()]
        for future in futures:
            if not future.done():
                future.set_exception(self._error)
                future.exception()  # whoever awaits it gets it; nobody else must log it
        self._waiting.clear()
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
        pid = self._next_id
        while True:
            pid = pid % 0xFFFF + 1
            if pid not in self._inflight and pid not in self._waiting:
                self._next_id = pid
                return pid

    def _topic(self, topic: str) -> bytes:
        field = self._topics.get(topic)
        if field is None:
            if len(self._topics) >= TOPIC_CACHE_MAX:
                self._topics.clear()
            field = self._topics[topic] = topic_field(topic)
        return field

    def _write(self, data: bytes | bytearray) -> None:
        self._check().write(data)
        self._last_sent = self._loop.time()

    # --- the publisher's interface ---------------------------------------------------------

    async def room(self) -> int:
        """Wait until more can be sent; return how many more readings the window takes."""
        while not self._room.is_set():
            await self._room.wait()
        self._check()
        return max(1, self.window - len(self._inflight))

    def send(self, entries: list[Publishable], qos: int) -> None:
        """Publish ``entries`` with one socket write. QoS 0 entries count as acked at once."""
        self._check()
        out = bytearray()
        topic_of = self._topic
        if qos:
            inflight = self._inflight
            new_id = self._new_id
            for entry in entries:
                topic, payload = topic_of(entry.topic), entry.payload
                pid = new_id()
                inflight[pid] = entry
                out += b"\x32"
                out += remaining_length(len(topic) + 2 + len(payload))
                out += topic
                out += pid.to_bytes(2, "big")
                out += payload
        else:
            for entry in entries:
                topic, payload = topic_of(entry.topic), entry.payload
                out += b"\x30"
                out += remaining_length(len(topic) + len(payload))
                out += topic
                out += payload
        self._write(out)
        if qos:
            self._update_room()
        else:
            self._on_acked(entries)

    async def publish(self, topic: str, payload: str | bytes, qos: int = 0,
                      retain: bool = False) -> None:
        """One publish outside the reading window (statuses); QoS 1 returns after the PUBACK."""
        data = payload.encode() if isinstance(payload, str) else payload
        if not qos:
            self._write(encode_publish(self._topic(topic), data, 0, retain=retain))
            return
        await self._request(lambda pid: encode_publish(self._topic(topic), data, 1, pid,
                                                       retain=retain))

    def publish_nowait(self, topic: str, payload: bytes, *,
                       retain: bool = False) -> asyncio.Future[bytes]:
        """Write one QoS 1 publish now (outside the reading window); the future completes
        with its PUBACK, or fails with the connection."""
        return self._request_nowait(
            lambda pid: encode_publish(self._topic(topic), payload, 1, pid, retain=retain))

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe; return once the broker granted it (a refusal is an error)."""
        codes = await self._request(lambda pid: encode_subscribe(pid, topic_filter, qos))
        if not codes or codes[0] == 0x80:
            raise MqttRefused(f"subscription to {topic_filter!r} refused")

    async def _request(self, packet: Callable[[int], bytes]) -> bytes:
        """Send a packet with a fresh packet id; wait for its PUBACK or SUBACK."""
        return await self._request_nowait(packet)

    def _request_nowait(self, packet: Callable[[int], bytes]) -> asyncio.Future[bytes]:
        self._check()
        pid = self._new_id()
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        self._waiting[pid] = waiter
        self._write(packet(pid))
        return waiter

    async def supervise(self) -> None:
        """Keep the connection alive; raise :class:`MqttConnectionLost` once it is not."""
        tick = max(0.05, min(1.0, self.keepalive / 4))
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await self._dead.wait()
            self._check()
            now = self._loop.time()
            if now - self._last_recv >= 1.5 * self.keepalive:
                self._fail(f"no answer from the broker for {now - self._last_recv:.1f}s "
                           f"(keepalive {self.keepalive:g}s)")
                self._check()
            quiet = now - max(self._last_recv, self._last_sent)
            if quiet >= self.keepalive / 2 or now - self._last_recv >= self.keepalive / 2:
                self._write(PINGREQ)

    def inflight(self) -> int:
        return len(self._inflight)

    async def _await_connack(self) -> int:
        return await self._connack

    def close(self) -> None:
        """A clean goodbye (DISCONNECT: the broker discards the will), then close."""
        if self._transport is not None and self._error is None:
            self._transport.write(DISCONNECT)
            self._transport.close()
        self._error = self._error or MqttConnectionLost("closed")


@contextlib.asynccontextmanager
async def lean_connect(
    host: str, port: int, *, client_id: str, keepalive: int, window: int,
    on_acked: Callable[[list[Publishable]], None], on_message: MessageHandler = _ignore,
    will: Will | None = None,
    username: str | None = None, password: str | None = None,
    tls: ssl.SSLContext | None = None, connect_timeout: float = 10.0,
) -> AsyncIterator[LeanClient]:
    """Connect, send CONNECT, wait for a successful CONNACK; DISCONNECT on the way out."""
    loop = asyncio.get_running_loop()
    client = LeanClient(keepalive, window, on_acked, on_message)
    try:
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(lambda: client, host, port, ssl=tls,
                                         server_hostname=host if tls else None)
            client._write(encode_connect(client_id, keepalive, will=will, username=username,
                                         password=password))
            code = await client._await_connack()
    except (OSError, TimeoutError) as exc:
        client._fail("connect failed")
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise MqttConnectionLost(f"cannot connect: {reason}") from None
    except BaseException:
        client._fail("connect aborted")
        raise
    if code:
        client._fail("refused")
        raise MqttRefused(f"connection refused: {CONNACK_REASONS.get(code, f'code {code}')}")
    try:
        yield client
    finally:
        client.close()
