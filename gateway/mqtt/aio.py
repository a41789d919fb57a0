"""The aiomqtt fallback data path, behind the same session interface as the lean client.

The publisher drives one session shape (:class:`gateway.mqtt.session.Session`): ``room()``,
``send(batch, qos)``, ``publish_nowait(...)``, ``subscribe(...)``, ``supervise()``, acks by
callback. :class:`~gateway.mqtt.client.LeanClient` is that natively; :class:`AiomqttSession`
adapts aiomqtt (a task per publish, paho underneath) to it, so both paths share one loop and
one ordering rule. This module imports aiomqtt, so it is itself imported only when
``[mqtt] client = "aiomqtt"`` (a lean gateway never loads paho).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from gateway.config import MqttSection
from gateway.errors import BrokerDown, MqttConnectionLost, MqttRefused, PublishError
from gateway.mqtt.client import (
    AUTH_REFUSALS,
    NOT_SENT,
    STATUS_WINDOW,
    TOO_LARGE,
    Message,
    MessageHandler,
    Publishable,
    RejectHandler,
    Will,
    not_authorised,
)
from gateway.mqtt.packets import publish_size
from gateway.mqtt.quarantine import HANG_UP_WINDOW, likeliest

__all__ = ["AiomqttSession", "aiomqtt_connect"]


class AiomqttSession:
    """One aiomqtt connection as a session: publishes run as tasks of the connection's
    TaskGroup and never raise; the first failure ends the session (:meth:`supervise`)."""

    def __init__(self, client: aiomqtt.Client, tg: asyncio.TaskGroup, *, window: int,
                 on_acked: Callable[[list[Publishable]], None], on_message: MessageHandler,
                 on_rejected: RejectHandler, max_packet_size: int | None) -> None:
        self._client = client
        self._tg = tg
        self.window = window
        self.status_window = STATUS_WINDOW
        self._on_acked = on_acked
        self._on_message = on_message
        self._on_rejected = on_rejected
        self.max_packet_size = max_packet_size
        self.hung_up_on: tuple[str, bytes] | None = None
        self._loop = asyncio.get_running_loop()
        self._unacked: dict[int, tuple[str, bytes]] = {}
        self._keys = itertools.count()
        self._inflight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._error: MqttConnectionLost | None = None
        self._dead = asyncio.Event()
        self._last_write = 0.0

    # --- the session interface ----------------------------------------------------------------

    async def room(self) -> int:
        while not self._room.is_set():
            await self._room.wait()
        self._check()
        return max(1, self.window - self._inflight)

    def send(self, entries: list[Publishable], qos: int) -> None:
        self._check()
        for entry in entries:
            if not self._too_large(entry, qos):
                self._inflight += 1
                self._spawn(self._reading(entry, qos), "aiomqtt.publish")
        self._update_room()

    def publish_nowait(self, topic: str, payload: bytes, *,
                       retain: bool = False) -> asyncio.Future[bytes]:
        self._check()
        future: asyncio.Future[bytes] = self._loop.create_future()
        message = Message(topic, payload)
        if self._too_large(message, 1):
            future.set_result(NOT_SENT)
        else:
            self._spawn(self._status(message, retain, future), "aiomqtt.status")
        return future

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self._check()
        try:
            codes = await self._client.subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as exc:
            self._lost(exc)
            raise MqttConnectionLost(str(exc)) from None
        if any(getattr(code, "value", code) >= 0x80 for code in codes):
            raise MqttRefused(f"subscription to {topic_filter!r} refused by the broker: "
                              "failure (0x80)")

    async def supervise(self) -> None:
        """Return never; raise :class:`MqttConnectionLost` once the connection is gone (paho
        keeps it alive meanwhile)."""
        await self._dead.wait()
        self._check()

    def inflight(self) -> int:
        return self._inflight

    # --- inside --------------------------------------------------------------------------------

    async def _reading(self, entry: Publishable, qos: int) -> None:
        try:
            sent = await self._publish(entry, qos, retain=False)
        finally:
            self._inflight -= 1
            self._update_room()
        if sent:
            self._on_acked([entry])

    async def _status(self, message: Publishable, retain: bool,
                      future: asyncio.Future[bytes]) -> None:
        sent = await self._publish(message, 1, retain=retain)
        if future.done():
            return
        if sent:
            future.set_result(b"")
        else:
            assert self._error is not None
            future.set_exception(self._error)
            future.exception()  # whoever awaits it gets it; nobody else must log it

    async def _publish(self, message: Publishable, qos: int, *, retain: bool) -> bool:
        """Publish; ``False`` once the connection failed (recorded, the session ends)."""
        if self._error is not None:
            return False
        key = next(self._keys)
        self._unacked[key] = (message.topic, message.payload)
        self._last_write = self._loop.time()
        try:
            await self._client.publish(message.topic, message.payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            self._lost(exc)
            return False
        del self._unacked[key]
        return True

    async def messages(self) -> None:
        try:
            async for message in self._client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self._on_message(message.topic.value, payload, bool(message.retain))
        except aiomqtt.MqttError as exc:
            self._lost(exc)

    def _too_large(self, message: Publishable, qos: int) -> bool:
        limit = self.max_packet_size
        if limit is None:
            return False
        size = publish_size(message.topic, message.payload, qos)
        if size <= limit:
            return False
        self._on_rejected(message, TOO_LARGE, f"{size} bytes, more than the configured "
                                              f"maximum ([mqtt] max_packet_size) of {limit}")
        return True

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tg.create_task(coro, name=name)

    def _lost(self, exc: BaseException) -> None:
        if self._error is not None:
            return
        if self._loop.time() - self._last_write < HANG_UP_WINDOW:
            self.hung_up_on = likeliest(self._unacked.values())
        self._error = MqttConnectionLost(str(exc) or type(exc).__name__)
        self._dead.set()
        self._room.set()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _update_room(self) -> None:
        if self._error is not None or self._inflight < self.window:
            self._room.set()
        else:
            self._room.clear()


@contextlib.asynccontextmanager
async def aiomqtt_connect(
    mqtt: MqttSection, host: str, port: int, *, client_id: str, will: Will,
    tls: ssl.SSLContext | None, on_acked: Callable[[list[Publishable]], None],
    on_message: MessageHandler, on_rejected: RejectHandler,
) -> AsyncIterator[AiomqttSession]:
    """Connect with aiomqtt; the session lives until the connection fails or the body ends."""
    secret = mqtt.secret()
    client = aiomqtt.Client(
        host, port, username=mqtt.username,
        password=secret.get_secret_value() if secret else None, identifier=client_id,
        will=aiomqtt.Will(will.topic, will.payload, qos=will.qos, retain=will.retain),
        keepalive=mqtt.keepalive, tls_context=tls, max_inflight_messages=mqtt.max_inflight,
        # No PUBACK (or CONNACK) within 1.5 x keepalive: the connection is half-open, drop
        # it (paho's own keepalive would take 2 x keepalive).
        timeout=1.5 * mqtt.keepalive,
    )
    client.pending_calls_threshold = mqtt.max_inflight + 10
    with _errors():
        async with client, asyncio.TaskGroup() as tg:
            session = AiomqttSession(client, tg, window=mqtt.max_inflight, on_acked=on_acked,
                                     on_message=on_message, on_rejected=on_rejected,
                                     max_packet_size=mqtt.max_packet_size)
            messages = tg.create_task(session.messages(), name="aiomqtt.messages")
            try:
                yield session
            finally:
                messages.cancel()


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """aiomqtt's errors (connecting, or leaving the connection) as ours."""
    try:
        yield
    except* aiomqtt.MqttError as group:
        error = group.exceptions[0]
        code = getattr(error, "rc", None)
        if isinstance(error, MqttConnectError) and getattr(code, "value", code) in AUTH_REFUSALS:
            raise not_authorised(str(error)) from None
        if isinstance(error.__cause__ or error.__context__, ConnectionRefusedError):
            raise BrokerDown(str(error)) from None
        raise PublishError(str(error)) from None
