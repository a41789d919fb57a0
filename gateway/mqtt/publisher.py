"""The MQTT side: one session at a time, reconnecting forever, publishing from the buffer.

- Birth/LWT: ``<root>/status`` is ``online`` (retained) on connect and ``offline`` as the last
  will and on clean shutdown. Device status topics are retained too and re-sent on reconnect.
- Readings leave the buffer in order through a bounded window of in-flight publishes
  (``mqtt.max_inflight``): never one PUBACK at a time. An entry is acknowledged to the buffer
  only once the broker has it (PUBACK at QoS 1, handed to a live connection at QoS 0); after a
  lost connection the in-flight window goes back to the front of the buffer.
- One loop and one ordering rule over a session interface (:mod:`gateway.mqtt.session`) that
  both data paths implement (``mqtt.client``): ``lean`` (default, :mod:`gateway.mqtt.client`:
  batches of readings pipelined in one socket write, PUBACKs matched without a task per
  message) and ``aiomqtt`` (:mod:`gateway.mqtt.aio`: one task per publish; the fallback).
- Statuses and retained messages go out smallest first (at most ``status_window`` awaiting a
  PUBACK), and before the batch of readings that made them change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.config import MqttSection, format_host_port
from gateway.core.backoff import Backoff
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Buffer, Entry
from gateway.errors import MqttRefused, PublishError
from gateway.mqtt.client import (
    NOT_SENT,
    REFUSED,
    UNENCODABLE,
    Message,
    Mqtt5Options,
    Publishable,
    Will,
    lean_connect,
)
from gateway.mqtt.packets import topic_matches
from gateway.mqtt.quarantine import QUARANTINED, Quarantine
from gateway.mqtt.trouble import ConnectionTrouble
from gateway.sparkplug.data import SparkplugData

if TYPE_CHECKING:
    from gateway.mqtt.session import Session
    from gateway.sparkplug.node import EdgeNode

__all__ = ["Publisher"]

log = logging.getLogger("gateway.publisher")

ONLINE = "online"
OFFLINE = "offline"

# handler(topic, payload, retained) for a subscription: plain, quick, never raises.
MessageHandler = Callable[[str, bytes, bool], None]


class Publisher:
    def __init__(
        self, mqtt: MqttSection, topics: TopicLayout, buffer: Buffer, client_id: str,
        sparkplug: EdgeNode | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.buffer = buffer
        self.client_id = client_id
        self.connected = asyncio.Event()
        self._server = 0  # index into mqtt.addresses (failover)
        self.published = 0
        self.rejected = 0  # readings not sent for good (too large, refused): dropped
        self.rejected_by: dict[tuple[str, str], int] = {}  # (device, reason) -> readings
        self._rejected_topics: set[str] = set()
        self._refused_filters: set[str] = set()  # subscriptions the broker refused (logged)
        self._quarantine = Quarantine()
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
        self._dead = asyncio.Event()  # Sparkplug: the clean stop's NDEATH is acknowledged
        self._tls = build_tls_context(mqtt) if mqtt.tls else None
        self.sparkplug = sparkplug
        if sparkplug is not None:  # the will is NDEATH: no retained JSON status of our own
            self._statuses.clear()
            self.subscribe(sparkplug.command_topic, sparkplug.on_command)
            if sparkplug.state_topic is not None:
                self.subscribe(sparkplug.state_topic, sparkplug.on_state)

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
        """Shutdown: every status we own becomes ``offline`` (Sparkplug: NDEATH follows the
        last reading)."""
        for topic in list(self._statuses):
            self.set_status(topic, OFFLINE)
        if self.sparkplug is not None:
            self.sparkplug.stopping = True
            self.sparkplug.changed.set()

    async def flush(self) -> None:
        """Return once the buffer is empty and every status change has been sent (Sparkplug:
        and the NDEATH; while the primary host is offline only that: readings must wait)."""
        node = self.sparkplug
        if node is not None and self.connected.is_set() and not node.live.is_set():
            await self._dead.wait()
            return
        await self.buffer.wait_empty()
        await self._statuses_sent.wait()
        if node is not None:
            await self._dead.wait()

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
        trouble = ConnectionTrouble(Backoff(0.2, self.mqtt.reconnect_delay_max),
                                    spread=self.mqtt.reconnect_spread)
        while True:
            error: BaseException | None = None
            try:
                async with self._connect() as session:
                    trouble.connected(self.server)
                    started = asyncio.get_running_loop().time()
                    try:
                        await self._session(session)
                    finally:
                        self._quarantine.session_ended(
                            session.hung_up_on, asyncio.get_running_loop().time() - started)
            except* PublishError as group:
                error = group.exceptions[0]
            self.buffer.flow.set_delivering(False)  # the broker is away: nothing is shed
            self.connected.clear()
            self.buffer.requeue_inflight()
            lost = self.server
            self._server += 1  # failover: the next attempt goes to the next server, if any
            delay = trouble.ended(error, lost,
                                  "" if self.server == lost else f"with {self.server} ")
            self.reconnects += 1
            self._state_changed()
            await asyncio.sleep(delay)

    def _will(self) -> Will:
        if self.sparkplug is not None:
            return self.sparkplug.new_session()
        return Will(self.topics.gateway_status, OFFLINE.encode(), qos=self.mqtt.will_qos,
                    retain=self.mqtt.will_retain)

    def _session_started(self) -> None:
        """A new session (either client): every status and retained message is sent again."""
        self._dirty.update(self._statuses)
        self._dirty.update(self._retained)
        self._status_changed.set()
        self.connected.set()
        # overload from now on sheds at the source (Sparkplug: once the node is live)
        self.buffer.flow.set_delivering(self.sparkplug is None)
        for hook in self._session_hooks:
            hook()
        self._state_changed()

    def _state_changed(self) -> None:
        if self.on_state_change is not None:
            self.on_state_change()

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        for topic_filter, handler in self._subscriptions.items():
            if topic_matches(topic, topic_filter):
                try:
                    handler(topic, payload, retained)
                except Exception:  # a handler's bug must not cost the MQTT session
                    log.exception("handler for %s failed", topic_filter)

    def _subscription_refused(self, topic_filter: str, reason: str) -> None:
        """A refused subscription: logged once, and the session goes on without it."""
        if topic_filter in self._refused_filters:
            return
        self._refused_filters.add(topic_filter)
        log.warning("subscription to %s refused by the broker: %s (check the broker's ACL "
                    "for this user); the gateway goes on without it", topic_filter, reason)

    # --- one session, either client ------------------------------------------------------------

    def _connect(self) -> contextlib.AbstractAsyncContextManager[Session]:
        """A session with the current broker, through the configured client."""
        if self.mqtt.client == "aiomqtt":
            from gateway.mqtt.aio import aiomqtt_connect  # noqa: PLC0415 - loads paho

            return aiomqtt_connect(self.mqtt, *self._address, client_id=self.client_id,
                                   will=self._will(), tls=self._tls, on_acked=self._acked,
                                   on_message=self._dispatch, on_rejected=self._rejected)
        secret = self.mqtt.secret()
        return lean_connect(
            *self._address,
            client_id=self.client_id,
            keepalive=self.mqtt.keepalive,
            window=self.mqtt.max_inflight,
            on_acked=self._acked,
            on_message=self._dispatch,
            will=self._will(),
            username=self.mqtt.username,
            password=secret.get_secret_value() if secret else None,
            tls=self._tls,
            mqtt5=None if self.mqtt.protocol != 5 else Mqtt5Options(
                session_expiry=self.mqtt.session_expiry,
                message_expiry=self.mqtt.message_expiry),
            on_rejected=self._rejected,
            max_packet_size=self.mqtt.max_packet_size,
        )

    async def _session(self, client: Session) -> None:
        self._unconfirmed.clear()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(client.supervise(), name="publisher.keepalive")
            for topic_filter in self._subscriptions:  # first: retained messages on them arrive
                try:  # before anything we send now
                    await client.subscribe(topic_filter, qos=1)
                except MqttRefused as exc:
                    self._subscription_refused(topic_filter, str(exc).rsplit(": ", 1)[-1])
            self._session_started()
            tg.create_task(self._statuses_loop(client), name="publisher.statuses")
            if self.sparkplug is not None:
                tg.create_task(self._sparkplug_loop(client, self.sparkplug),
                               name="publisher.sparkplug")
            tg.create_task(self._readings(client), name="publisher.readings")

    async def _readings(self, client: Session) -> None:
        """Take what the window has room for from the buffer, send it in one write."""
        qos = self.mqtt.qos if self.sparkplug is None else 0  # Sparkplug: QoS 0, as its spec
        while True:
            if self.sparkplug is not None:
                await self.sparkplug.live.wait()  # NBIRTH first
            await self.buffer.wait_ready()
            room = await client.room()  # as the window is now: PUBACKs came while we waited
            batch: list[Publishable] = list(await self.buffer.get(room))
            if self._quarantine.held:
                batch = [entry for entry in batch if not self._quarantined(entry)]
            if self._dirty:  # a device's state changed with these readings: state first
                self._write_statuses(client)
            if self.sparkplug is not None:
                batch = self._sparkplug_batch(client, self.sparkplug, batch)
            client.send(batch, qos)

    def _sparkplug_batch(self, client: Session, node: EdgeNode,
                         batch: list[Publishable]) -> list[Publishable]:
        """Readings as DBIRTH/DDATA (:mod:`gateway.sparkplug.node`), after what else is due."""
        self.buffer.flow.set_delivering(True)  # the node is live: overload sheds now
        due = node.control()  # a DDEATH or rebirth asked for meanwhile goes first (its seq)
        if due:
            client.send(list(due), 0)
        entries = [entry for entry in batch if isinstance(entry, Entry)]
        messages, unreadable = node.translate(entries)
        for entry in unreadable:
            self._rejected(entry, UNENCODABLE, "not a reading this gateway wrote (Sparkplug "
                           "mode reads the JSON readings of the buffer)")
        return messages

    async def _sparkplug_loop(self, client: Session, node: EdgeNode) -> None:
        """Births once the session may talk, rebirths, DDEATHs; the primary host going offline
        ends the session; the clean stop's NDEATH after the last reading."""
        while True:
            await node.changed.wait()
            node.changed.clear()
            if node.host_lost or node.stopping:
                if node.stopping and node.live.is_set():  # the last readings, then NDEATH
                    await self.buffer.wait_empty()
                topic = node.topic("NDEATH")
                if await client.publish_nowait(topic, node.death()) != NOT_SENT:
                    self._dead.set()
                if node.stopping:
                    return
                raise PublishError(f"Sparkplug primary host {node.host} went offline: NDEATH "
                                   "sent; readings wait in the buffer until it is back")
            due = node.control()
            if due:
                client.send(list(due), 0)

    def _write_statuses(self, client: Session) -> None:
        """Write every changed retained state now, pipelined; :meth:`_statuses_loop` waits
        for the PUBACKs. The readings loop calls this before a batch, so a consumer sees a
        device ``online`` (or its discovery config) before the readings that made it so."""
        room = client.status_window - len(self._unconfirmed)
        # smallest first, the same order every session: what the broker takes is acknowledged
        # before a message it hangs up on (see the quarantine)
        for topic in sorted(self._dirty, key=self._status_order)[:max(0, room)]:
            self._dirty.discard(topic)
            data = self._statuses.get(topic, self._retained.get(topic, "")).encode()
            if self._quarantine.held and self._quarantined(Message(topic, data)):
                continue
            self._unconfirmed[topic] = client.publish_nowait(topic, data, retain=True)

    async def _statuses_loop(self, client: Session) -> None:
        while True:
            if not self._dirty:  # else: more than the status window took; go on at once
                await self._status_changed.wait()
            self._status_changed.clear()
            self._write_statuses(client)
            while self._unconfirmed:  # a lost connection raises here; the next session
                topic, waiter = next(iter(self._unconfirmed.items()))  # re-sends them all
                if await waiter != NOT_SENT:  # the broker took it
                    self._status_acked(topic)
                if self._unconfirmed.get(topic) is waiter:
                    del self._unconfirmed[topic]
            if not self._dirty:
                self._statuses_sent.set()

    def _status_order(self, topic: str) -> tuple[int, str]:
        return len(self._statuses.get(topic, self._retained.get(topic, ""))), topic

    def _status_acked(self, topic: str) -> None:
        payload = self._statuses.get(topic, self._retained.get(topic, ""))
        size = len(topic) + len(payload.encode())
        self._quarantine.largest_acked = max(self._quarantine.largest_acked, size)

    def _quarantined(self, message: Publishable) -> bool:
        """A message as large as one the broker hung up on twice in a row, on the same topic,
        is rejected instead of sent (:mod:`gateway.mqtt.quarantine`)."""
        if not self._quarantine.holds(message.topic, message.payload):
            return False
        self._rejected(message, QUARANTINED, "the broker closed the connection right after "
                       f"receiving a message this large ({len(message.payload)}-byte payload) "
                       "on this topic, twice in a row (larger than the broker accepts? set "
                       "[mqtt] max_packet_size)")
        return True

    def _rejected(self, entry: Publishable, kind: str, reason: str) -> None:
        """A reading (or status) that cannot be delivered for good: larger than the broker
        takes, not encodable, or refused by the broker (MQTT 5). Dropped, counted per device
        and ``kind``, logged once per topic; sending it again could only fail again."""
        what = "reading"
        if isinstance(entry, SparkplugData):  # a DDATA: every reading in it
            for one in entry.entries:
                self._rejected(one, kind, reason)
            return
        if isinstance(entry, Entry):
            self.buffer.ack(entry)
            self.rejected += 1
            key = (entry.device, kind)
            self.rejected_by[key] = self.rejected_by.get(key, 0) + 1
        else:
            what = "status or retained message (e.g. a Home Assistant discovery config)"
        if entry.topic not in self._rejected_topics:
            self._rejected_topics.add(entry.topic)
            how = "the broker refused a %s on %s" if kind == REFUSED else "a %s on %s is not sent"
            log.warning(how + ": %s; dropped (not sent again; later ones on this topic are "
                        "dropped without a log line)", what, entry.topic, reason)

    def _acked(self, entries: list[Publishable]) -> None:
        """The broker has these (PUBACK at QoS 1; written to the live connection at QoS 0)."""
        readings: list[Entry] = []
        for entry in entries:
            if isinstance(entry, Entry):
                readings.append(entry)
            elif isinstance(entry, SparkplugData):
                readings.extend(entry.entries)
        self._quarantine.largest_acked = max(
            self._quarantine.largest_acked,
            max((len(entry.topic) + len(entry.payload) for entry in entries), default=0))
        self.buffer.ack_many(readings)
        self.published += len(readings)


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
