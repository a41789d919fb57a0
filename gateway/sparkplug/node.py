"""The gateway as a Sparkplug B edge node: what it says when, and the sequence numbers.

- Each MQTT session has a ``bdSeq`` (0..255, one more per connection): the NDEATH will given
  to CONNECT carries it, and so does that session's NBIRTH.
- ``seq`` (0..255) counts every message of the node in the order it is written: NBIRTH is 0,
  then every DBIRTH, DDATA and DDEATH takes the next. Messages are built and handed to the
  connection in one synchronous step, so the wire order is the ``seq`` order.
- Births: NBIRTH once the session may talk (at once, or once the primary host's STATE says
  online), then a DBIRTH for every device already known. A device's DBIRTH is (re)sent right
  before its DDATA when it is new to this session or has a sensor its last DBIRTH did not list.
  NCMD ``Node Control/Rebirth`` = true: a new NBIRTH (``seq`` 0, same ``bdSeq``) and DBIRTHs.
- DDATA: the readings of one device in one buffer batch, in one message, by alias. A reading
  taken before this session's NBIRTH (it waited in the buffer or the outbox while the broker or
  the primary host was away) is flagged ``is_historical``.
- A device going offline: DDEATH (if it was born in this session); its next reading rebirths it.

Readings stay JSON in the buffer and the disk outbox (the outbox's guarantees are unchanged); they
become Sparkplug at publish time, here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from gateway.config import SparkplugSection
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Entry
from gateway.errors import DecodeError
from gateway.mqtt.client import Message, Publishable, Will
from gateway.sparkplug import payloads
from gateway.sparkplug.data import SparkplugData
from gateway.sparkplug.payloads import MetricValue

__all__ = ["NAMESPACE", "EdgeNode"]

log = logging.getLogger("gateway.sparkplug")

NAMESPACE = "spBv1.0"


@dataclass
class _Metric:
    alias: int
    unit: str | None
    value: float = 0.0
    timestamp: int = 0


@dataclass
class _Device:
    metrics: dict[str, _Metric] = field(default_factory=dict)
    born_with: int = -1  # metrics listed in this session's DBIRTH; -1: not born


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


class EdgeNode:
    """State of the edge node across sessions; the publisher drives it (see its module doc)."""

    def __init__(self, config: SparkplugSection, gateway_id: str, topics: TopicLayout) -> None:
        assert config.group_id is not None
        self.group = config.group_id
        self.node = config.edge_node_id or gateway_id
        self.host = config.primary_host_id
        self.topics = topics
        self.bd_seq = -1
        self.seq = 0
        self.live = asyncio.Event()  # NBIRTH is out in this session: DDATA may follow
        self.changed = asyncio.Event()  # something for the publisher's Sparkplug loop
        self.stopping = False
        self.host_online = self.host is None
        self.host_lost = False  # the primary host went offline during this session
        self.rebirth = False
        self.birth_count = 0  # NBIRTHs sent (rebirths included)
        self.bad_commands = 0
        self.live_since = 0  # ms: readings taken before this were waiting: historical
        self._devices: dict[str, _Device] = {}
        self._deaths: list[str] = []  # devices whose DDEATH is due
        self._next_alias = 1
        self._prefixes: dict[str, str] = {}

    # --- topics ----------------------------------------------------------------------------

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{kind}/{self.node}"
        return base if device is None else f"{base}/{device}"

    @property
    def command_topic(self) -> str:
        return self.topic("NCMD")

    @property
    def state_topic(self) -> str | None:
        return None if self.host is None else f"{NAMESPACE}/STATE/{self.host}"

    # --- sessions --------------------------------------------------------------------------

    def new_session(self) -> Will:
        """A connection is about to be made: the next ``bdSeq`` and its NDEATH as the will."""
        self.bd_seq = (self.bd_seq + 1) % 256
        self.live.clear()
        self.host_online = self.host is None  # the retained STATE says it again
        self.host_lost = False
        for device in self._devices.values():
            device.born_with = -1
        self._deaths.clear()
        self.changed.set()
        return Will(self.topic("NDEATH"), self.death(), qos=1, retain=False)

    def death(self) -> bytes:
        return payloads.node_death(self.bd_seq, _now_ms())

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def births(self) -> list[Message]:
        """NBIRTH (``seq`` 0) and a DBIRTH for every device with sensors; DDATA may follow."""
        now = _now_ms()
        self.seq = 0
        self.rebirth = False
        self.birth_count += 1
        messages = [Message(self.topic("NBIRTH"), payloads.node_birth(self.bd_seq, now))]
        for name, device in self._devices.items():
            device.born_with = -1
            if device.metrics:
                messages.append(self._device_birth(name, device, now))
        self.live_since = now
        self.live.set()
        return messages

    def control(self) -> list[Message]:
        """What is due outside the readings: births (first, or asked for), DDEATHs."""
        if not self.host_online:
            return []
        messages: list[Message] = []
        if not self.live.is_set() or self.rebirth:
            messages = self.births()
        now = _now_ms()
        for name in self._deaths:
            messages.append(Message(self.topic("DDEATH", name),
                                    payloads.device_death(self._next_seq(), now)))
        self._deaths.clear()
        return messages

    def device_status(self, device: str, online: bool) -> None:
        """A device went offline (DDEATH if it was born in this session) or came back (its
        next reading brings a DBIRTH)."""
        known = self._devices.get(device)
        if online or known is None or known.born_with < 0:
            return
        known.born_with = -1
        self._deaths.append(device)
        self.changed.set()

    # --- host messages ---------------------------------------------------------------------

    def on_command(self, _topic: str, data: bytes, _retained: bool) -> None:
        """NCMD: ``Node Control/Rebirth`` = true asks for new births."""
        try:
            wanted = payloads.rebirth_requested(data)
        except DecodeError as exc:
            self.bad_commands += 1
            log.warning("NCMD ignored: %s", exc)
            return
        if wanted:
            log.info("rebirth requested (NCMD): NBIRTH and DBIRTHs follow")
            self.rebirth = True
            self.changed.set()

    def on_state(self, _topic: str, data: bytes, _retained: bool) -> None:
        """The primary host's STATE."""
        try:
            online = payloads.host_online(data)
        except DecodeError as exc:
            log.warning("STATE of primary host %s ignored: %s", self.host, exc)
            return
        if online == self.host_online:
            return
        self.host_online = online
        if not online and self.live.is_set():
            self.host_lost = True
        self.changed.set()

    # --- readings --------------------------------------------------------------------------

    def translate(self, batch: list[Entry]) -> tuple[list[Publishable], list[Entry]]:
        """One buffer batch as Sparkplug messages: per device, a DBIRTH if due, then one DDATA
        with its readings in order. Entries that are not readings (``<root>/stats``) go as
        they are. Also returned: the readings that cannot be read (not a reading's JSON)."""
        now = _now_ms()
        unreadable: list[Entry] = []
        groups: dict[str, list[Entry]] = {}
        out: list[Publishable] = []
        for entry in batch:
            if entry.topic.startswith(self._prefix(entry.device)) or \
                    entry.topic == self._prefix(entry.device)[:-1]:
                groups.setdefault(entry.device, []).append(entry)
            else:
                out.append(entry)
        for name, entries in groups.items():
            out.extend(self._device_messages(name, entries, now, unreadable))
        return out, unreadable

    def _prefix(self, device: str) -> str:
        prefix = self._prefixes.get(device)
        if prefix is None:
            prefix = self._prefixes[device] = self.topics.device(device) + "/"
        return prefix

    def _device_messages(self, name: str, entries: list[Entry], now: int,
                         unreadable: list[Entry]) -> list[Publishable]:
        device = self._devices.setdefault(name, _Device())
        values: list[MetricValue] = []
        taken: list[Entry] = []
        for entry in entries:
            try:
                readings = self._readings(entry)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                unreadable.append(entry)
                continue
            taken.append(entry)
            for metric_name, value, unit, ts in readings:
                metric = device.metrics.get(metric_name)
                if metric is None:
                    metric = device.metrics[metric_name] = _Metric(self._next_alias, unit)
                    self._next_alias += 1
                metric.value, metric.timestamp = value, ts
                values.append(MetricValue(metric_name, metric.alias, value, unit, ts,
                                          historical=ts < self.live_since))
        messages: list[Publishable] = []
        if not taken:
            return messages
        if device.born_with != len(device.metrics):
            messages.append(self._device_birth(name, device, now))
        data = payloads.device_data(values, self._next_seq(), now)
        messages.append(SparkplugData(self.topic("DDATA", name), data, taken))
        return messages

    def _readings(self, entry: Entry) -> list[tuple[str, float, str | None, int]]:
        """(metric, value, unit, ms) of a JSON reading: a sensor topic's or a device topic's."""
        body = orjson.loads(entry.payload)
        ts = _ms(body["ts"])
        if "readings" in body:  # layout = "device"
            return [(metric, float(r["value"]), r.get("unit"), ts)
                    for metric, r in body["readings"].items()]
        metric = entry.topic[len(self._prefix(entry.device)):]
        return [(metric, float(body["value"]), body.get("unit"), ts)]

    def _device_birth(self, name: str, device: _Device, now: int) -> Message:
        device.born_with = len(device.metrics)
        metrics = [MetricValue(metric_name, m.alias, m.value, m.unit, m.timestamp)
                   for metric_name, m in device.metrics.items()]
        return Message(self.topic("DBIRTH", name),
                       payloads.device_birth(metrics, self._next_seq(), now))
