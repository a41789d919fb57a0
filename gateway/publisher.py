"""The MQTT side: one session at a time, reconnecting forever, publishing from the buffer.

- Birth/LWT: ``<root>/status`` is ``online`` (retained) on connect and ``offline`` as the last
  will and on clean shutdown. Device status topics are retained too and re-sent on reconnect.
- Readings leave the buffer in order through a bounded window of in-flight publishes
  (``mqtt.max_inflight``): never one PUBACK at a time. An entry is acknowledged to the buffer
  only once the broker has it (PUBACK at QoS 1, handed to a live connection at QoS 0); after a
  lost connection the in-flight window goes back to the front of the buffer.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

import aiomqtt

from gateway.backoff import Backoff
from gateway.buffer import Buffer, Entry
from gateway.config import MqttSection
from gateway.topics import TopicLayout

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
        self.published = 0
        self.reconnects = 0
        self._statuses: dict[str, str] = {topics.gateway_status: ONLINE}
        self._retained: dict[str, str] = {}  # other retained state (HA discovery configs)
        self._subscriptions: dict[str, MessageHandler] = {}
        self._dirty: set[str] = set()
        self._status_changed = asyncio.Event()
        self._statuses_sent = asyncio.Event()
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

    def going_offline(self) -> None:
        """Shutdown: every status we own becomes ``offline``."""
        for topic in list(self._statuses):
            self.set_status(topic, OFFLINE)

    async def flush(self) -> None:
        """Return once the buffer is empty and every status change has been sent."""
        await self.buffer.wait_empty()
        await self._statuses_sent.wait()

    # --- the connection loop ---------------------------------------------------------------

    async def run(self) -> None:
        backoff = Backoff(0.2, self.mqtt.reconnect_delay_max)
        failing = False
        while True:
            error: BaseException | None = None
            try:
                async with self._client() as client:
                    log.info("connected to %s:%d", self.mqtt.host, self.mqtt.port)
                    backoff.reset()
                    failing = False
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                error = group.exceptions[0]
            self.connected.clear()
            self.buffer.requeue_inflight()
            delay = backoff.next_delay()
            level = logging.DEBUG if failing else logging.WARNING
            log.log(level, "broker %s:%d unavailable (%s); retrying in %.1fs",
                    self.mqtt.host, self.mqtt.port, error, delay)
            failing = True
            self.reconnects += 1
            await asyncio.sleep(delay)

    def _client(self) -> aiomqtt.Client:
        secret = self.mqtt.secret()
        will = aiomqtt.Will(self.topics.gateway_status, OFFLINE, qos=1, retain=True)
        client = aiomqtt.Client(
            self.mqtt.host,
            self.mqtt.port,
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

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic_filter in self._subscriptions:  # first: retained messages on them arrive
            await client.subscribe(topic_filter, qos=1)  # before anything we send now
        self._dirty.update(self._statuses)
        self._dirty.update(self._retained)
        self._status_changed.set()
        self.connected.set()
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
            for topic_filter, handler in self._subscriptions.items():
                if message.topic.matches(topic_filter):
                    try:
                        handler(message.topic.value, payload, bool(message.retain))
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
