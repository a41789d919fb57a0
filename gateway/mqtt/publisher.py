"""The MQTT side: one session at a time, reconnecting forever, publishing from the buffer.

- Birth/LWT: ``<root>/status`` is ``online`` (retained) on connect and ``offline`` as the last
  will and on clean shutdown. Device status topics are retained too and re-sent on reconnect.
- Readings leave the buffer in order through a bounded window of in-flight publishes
  (``mqtt.max_inflight``): never one PUBACK at a time. An entry is acknowledged to the buffer
  only once the broker has it (PUBACK at QoS 1, handed to a live connection at QoS 0); after a
  lost connection the in-flight window goes back to the front of the buffer.
- Two data paths behind this one class (``mqtt.client``): ``lean`` (default,
  :mod:`gateway.mqtt.client`: batches of readings pipelined in one socket write, PUBACKs matched
  without a task per message) and ``aiomqtt`` (one task per publish; the fallback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from gateway.config import MqttSection, format_host_port
from gateway.core.backoff import Backoff
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Buffer, Entry
from gateway.errors import PublishError
from gateway.mqtt.client import LeanClient, Mqtt5Options, Publishable, Will, lean_connect
from gateway.mqtt.packets import topic_matches

if TYPE_CHECKING:
    import aiomqtt

__all__ = ["Publisher"]

log = logging.getLogger("gateway.publisher")

ONLINE = "online"
OFFLINE = "offline"

# handler(topic, payload, retained) for a subscription: plain, quick, never raises.
MessageHandler = Callable[[str, bytes, bool], None]


class Publisher:
    def __init__(
        self, mqtt: MqttSection, topics: TopicLayout, buffer: Buffer, client_id: str
    ) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.buffer = buffer
        self.client_id = client_id
        self.connected = asyncio.Event()
        self._server = 0  # index into mqtt.addresses (failover)
        self.published = 0
        self.rejected = 0  # MQTT 5: readings the broker refused for good (dropped)
        self._rejected_topics: set[str] = set()
        self.reconnects = 0
        # Called when it connects, and after every ended or failed attempt (the daemon's
        # STATUS= line follows at once).
        self.on_state_change: Callable[[], None] | None = None
        self._statuses: dict[str, str] = {topics.gateway_status: ONLINE}
        self._retained: dict[str, str] = {}  # other retained state (HA discovery configs)
        self._subscriptions: dict[str, MessageHandler] = {}
        self._session_hooks: list[Callable[[], None]] = []
        self._dirty: set[str] = set()
        self._status_changed = asyncio.Event()
        self._statuses_sent = asyncio.Event()
        self._unconfirmed: dict[str, asyncio.Future[bytes]] = {}  # lean: awaiting PUBACK
        self._tls = build_tls_context(mqtt) if mqtt.tls else None

    # --- statuses --------------------------------------------------------------------------

    def set_status(self, topic: str, payload: str) -> None:
        """Retained state (``online``/``offline``), kept and re-sent after every reconnect."""
        if self._statuses.get(topic) == payload:
            return
        self._statuses[topic] = payload
        self._dirty.add(topic)
        self._statuses_sent.clear()
        self._status_changed.set()

    def set_retained(self, topic: str, payload: str, *, force: bool = False) -> None:
        """Retained state that is not a status (``going_offline`` leaves it alone); kept and
        re-sent after every reconnect. ``force`` sends it again even if unchanged."""
        if self._retained.get(topic) == payload and not force:
            return
        self._retained[topic] = payload
        self._dirty.add(topic)
        self._statuses_sent.clear()
        self._status_changed.set()

    def retained(self, topic: str) -> str | None:
        """The retained payload last given to :meth:`set_retained` for ``topic``."""
        return self._retained.get(topic)

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Call ``handler`` for every message on ``topic_filter`` (subscribed on each connect)."""
        self._subscriptions[topic_filter] = handler

    def on_session(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` whenever a new session starts (after subscribing, as every status
        and retained message is queued to be sent again)."""
        self._session_hooks.append(hook)

    def going_offline(self) -> None:
        """Shutdown: every status we own becomes ``offline``."""
        for topic in list(self._statuses):
            self.set_status(topic, OFFLINE)

    async def flush(self) -> None:
        """Return once the buffer is empty and every status change has been sent."""
        await self.buffer.wait_empty()
        await self._statuses_sent.wait()

    # --- the connection loop ---------------------------------------------------------------

    @property
    def _address(self) -> tuple[str, int]:
        """The broker this (or the next) connection attempt goes to."""
        addresses = self.mqtt.addresses
        return addresses[self._server % len(addresses)]

    @property
    def server(self) -> str:
        """``host:port`` of the current broker (for logs)."""
        return format_host_port(*self._address)

    async def run(self) -> None:
        backoff = Backoff(0.2, self.mqtt.reconnect_delay_max)
        failing = False
        while True:
            error: BaseException | None = None
            try:
                if self.mqtt.client == "lean":
                    async with self._lean_client() as lean:
                        self._on_connect(backoff)
                        failing = False
                        await self._lean_session(lean)
                else:
                    with _aiomqtt_errors():
                        async with self._client() as client:
                            self._on_connect(backoff)
                            failing = False
                            await self._session(client)
            except* PublishError as group:
                error = group.exceptions[0]
            self.connected.clear()
            self.buffer.requeue_inflight()
            delay = backoff.next_delay()
            level = logging.DEBUG if failing else logging.WARNING
            lost = self.server
            self._server += 1  # failover: the next attempt goes to the next server, if any
            log.log(level, "broker %s unavailable (%s); retrying %sin %.1fs", lost, error,
                    "" if self.server == lost else f"with {self.server} ", delay)
            failing = True
            self.reconnects += 1
            self._state_changed()
            await asyncio.sleep(delay)

    def _on_connect(self, backoff: Backoff) -> None:
        log.info("connected to %s", self.server)
        backoff.reset()

    def _client(self) -> aiomqtt.Client:
        import aiomqtt  # noqa: PLC0415 - only the fallback path pays for aiomqtt and paho

        secret = self.mqtt.secret()
        will = aiomqtt.Will(self.topics.gateway_status, OFFLINE, qos=1, retain=True)
        host, port = self._address
        client = aiomqtt.Client(
            host,
            port,
            username=self.mqtt.username,
            password=secret.get_secret_value() if secret else None,
            identifier=self.client_id,
            will=will,
            keepalive=self.mqtt.keepalive,
            tls_context=self._tls,
            max_inflight_messages=self.mqtt.max_inflight,
            # No PUBACK (or CONNACK) within 1.5 x keepalive: the connection is half-open, drop
            # it (paho's own keepalive would take 2 x keepalive).
            timeout=1.5 * self.mqtt.keepalive,
        )
        client.pending_calls_threshold = self.mqtt.max_inflight + 10
        return client

    def _session_started(self) -> None:
        """A new session (either client): every status and retained message is sent again."""
        self._dirty.update(self._statuses)
        self._dirty.update(self._retained)
        self._status_changed.set()
        self.connected.set()
        for hook in self._session_hooks:
            hook()
        self._state_changed()

    def _state_changed(self) -> None:
        if self.on_state_change is not None:
            self.on_state_change()

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic_filter in self._subscriptions:  # first: retained messages on them arrive
            await client.subscribe(topic_filter, qos=1)  # before anything we send now
        self._session_started()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._status_loop(client), name="publisher.statuses")
            if self._subscriptions:
                tg.create_task(self._message_loop(client), name="publisher.messages")
            tg.create_task(self._reading_loop(client, tg), name="publisher.readings")

    async def _status_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            while self._dirty:
                topic = self._dirty.pop()
                payload = self._statuses.get(topic, self._retained.get(topic, ""))
                try:
                    await client.publish(topic, payload, qos=1, retain=True)
                except BaseException:
                    self._dirty.add(topic)
                    raise
            self._statuses_sent.set()

    async def _message_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self._dispatch(message.topic.value, payload, bool(message.retain))

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        for topic_filter, handler in self._subscriptions.items():
            if topic_matches(topic, topic_filter):
                try:
                    handler(topic, payload, retained)
                except Exception:  # a handler's bug must not cost the MQTT session
                    log.exception("handler for %s failed", topic_filter)

    async def _reading_loop(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> None:
        window = asyncio.Semaphore(self.mqtt.max_inflight)
        qos = self.mqtt.qos
        while True:
            for entry in await self.buffer.get(self.mqtt.max_inflight):
                await window.acquire()
                tg.create_task(self._send(client, entry, qos, window), name="publisher.send")

    async def _send(
        self, client: aiomqtt.Client, entry: Entry, qos: int, window: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(entry.topic, entry.payload, qos=qos)
        finally:
            window.release()
        self.buffer.ack(entry)
        self.published += 1

    # --- the lean data path ------------------------------------------------------------------

    def _lean_client(self) -> contextlib.AbstractAsyncContextManager[LeanClient]:
        secret = self.mqtt.secret()
        return lean_connect(
            *self._address,
            client_id=self.client_id,
            keepalive=self.mqtt.keepalive,
            window=self.mqtt.max_inflight,
            on_acked=self._acked,
            on_message=self._dispatch,
            will=Will(self.topics.gateway_status, OFFLINE.encode(), qos=1, retain=True),
            username=self.mqtt.username,
            password=secret.get_secret_value() if secret else None,
            tls=self._tls,
            mqtt5=None if self.mqtt.protocol != 5 else Mqtt5Options(
                session_expiry=self.mqtt.session_expiry,
                message_expiry=self.mqtt.message_expiry,
                on_rejected=self._rejected),
        )

    async def _lean_session(self, client: LeanClient) -> None:
        self._unconfirmed.clear()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(client.supervise(), name="publisher.keepalive")
            for topic_filter in self._subscriptions:  # first: retained messages on them arrive
                await client.subscribe(topic_filter, qos=1)  # before anything we send now
            self._session_started()
            tg.create_task(self._lean_statuses(client), name="publisher.statuses")
            tg.create_task(self._lean_readings(client), name="publisher.readings")

    async def _lean_readings(self, client: LeanClient) -> None:
        """Take what the window has room for from the buffer, send it in one write."""
        qos = self.mqtt.qos
        while True:
            room = await client.room()
            batch: list[Publishable] = list(await self.buffer.get(room))
            if self._dirty:  # a device's state changed with these readings: state first
                self._write_statuses(client)
            client.send(batch, qos)

    def _write_statuses(self, client: LeanClient) -> None:
        """Write every changed retained state now, pipelined; :meth:`_lean_statuses` waits
        for the PUBACKs. The readings loop calls this before a batch, so a consumer sees a
        device ``online`` (or its discovery config) before the readings that made it so."""
        while self._dirty:
            topic = self._dirty.pop()
            payload = self._statuses.get(topic, self._retained.get(topic, ""))
            self._unconfirmed[topic] = client.publish_nowait(topic, payload.encode(),
                                                             retain=True)

    async def _lean_statuses(self, client: LeanClient) -> None:
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            self._write_statuses(client)
            while self._unconfirmed:  # a lost connection raises here; the next session
                topic, waiter = next(iter(self._unconfirmed.items()))  # re-sends them all
                await waiter
                if self._unconfirmed.get(topic) is waiter:
                    del self._unconfirmed[topic]
            if not self._dirty:
                self._statuses_sent.set()

    def _rejected(self, entry: Publishable, reason: str) -> None:
        """The broker refused this reading (or status) for good (MQTT 5): dropped, counted,
        logged once per topic; resending it could only be refused again."""
        what = "reading"
        if isinstance(entry, Entry):
            self.buffer.ack(entry)
            self.rejected += 1
        else:
            what = "status or retained message"
        if entry.topic not in self._rejected_topics:
            self._rejected_topics.add(entry.topic)
            log.warning("the broker refused a %s on %s: %s; dropped (not sent again; later "
                        "ones on this topic are dropped without a log line)",
                        what, entry.topic, reason)

    def _acked(self, entries: list[Publishable]) -> None:
        """The broker has these (PUBACK at QoS 1; written to the live connection at QoS 0)."""
        ack = self.buffer.ack
        for entry in entries:
            assert isinstance(entry, Entry)
            ack(entry)
        self.published += len(entries)


@contextlib.contextmanager
def _aiomqtt_errors() -> Iterator[None]:
    """aiomqtt's errors as our :class:`PublishError` (the reconnect loop catches only ours)."""
    import aiomqtt  # noqa: PLC0415

    try:
        yield
    except* aiomqtt.MqttError as group:
        raise PublishError(str(group.exceptions[0])) from None


def build_tls_context(mqtt: MqttSection) -> ssl.SSLContext:
    """Verifying TLS by default; only ``tls_insecure = true`` turns verification off."""
    context = ssl.create_default_context(
        cafile=str(mqtt.ca_file) if mqtt.ca_file else None
    )
    if mqtt.cert_file and mqtt.key_file:
        context.load_cert_chain(str(mqtt.cert_file), str(mqtt.key_file))
    if mqtt.tls_insecure:
        log.warning("mqtt.tls_insecure = true: the broker's certificate is NOT verified")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
