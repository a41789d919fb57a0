"""Home Assistant MQTT discovery (``[homeassistant] discovery = true``).

One retained, device-based discovery message per device at
``<prefix>/device/<gateway>_<device>/config`` (and one for the gateway itself, with a
connectivity binary sensor on ``<root>/status``). Components come from what the config says
a device will publish (simulated profiles, serial protocols, Modbus registers, CSV fields) and
are completed at run time when a sensor first reports (line protocols, BLE): the device's
message is then sent again with the new component.

- Re-announced when Home Assistant says ``online`` on ``<prefix>/status`` and after every
  reconnect (the configs are retained state of the publisher).
- Values at once: Home Assistant subscribes to a new entity's state topic only after it has
  processed the discovery message (~200 ms later), and readings are not retained. So whenever
  discovery goes out (start, reconnect, HA's birth, a sensor announced at run time), every
  sensor's last published reading is sent again ``replay_delays`` seconds later (default 2 s
  and 10 s): an exact duplicate, same ``seq`` and ``ts``, which the delivery contract allows.
  A steady sensor under report-by-exception so shows its value within seconds, not at its
  next heartbeat (or never, without one).
- Names: the device is ``name`` (default: its id made readable); each entity is named from
  the kinds table ("Temperature", "PM2.5"), never repeating the device name, and gets a fixed
  entity id ``<device>_<sensor>`` (``gateway_in_entity_ids``: ``<gateway>_<device>_<sensor>``).
- Removal: the daemon subscribes to ``<prefix>/device/+/config``; a retained config that
  names this gateway as its ``via_device`` but belongs to no configured device is removed with
  an empty retained payload (so a device deleted from the config disappears on the next start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.core.topics import TopicLayout, sanitize
from gateway.homeassistant.kinds import Classification, classify, display_name, ha_unit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from gateway.config import Settings
    from gateway.core.readings import Measurement
    from gateway.mqtt.publisher import Publisher
    from gateway.sdk import DeviceConfig, DeviceModel

__all__ = ["Discovery", "device_payload", "expected_sensors", "ha_id"]

log = logging.getLogger("gateway.homeassistant")

ORIGIN = "sensor-gateway"
_NOT_HA = re.compile(r"[^a-zA-Z0-9_-]+")

def ha_id(text: str) -> str:
    """``text`` as a Home Assistant node/object id (``[a-zA-Z0-9_-]``)."""
    return _NOT_HA.sub("_", text).strip("_") or "unnamed"


def entity_slug(text: str) -> str:
    """``text`` in Home Assistant's entity id alphabet (``[a-z0-9_]``, no ``_`` at the ends)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unnamed"


def expected_sensors(config: DeviceConfig) -> dict[str, tuple[str, str | None]]:
    """Sensor name -> (kind, unit) for what the config says the device publishes."""
    return {spec.name: (spec.kind, spec.unit) for spec in config.sensor_specs() or []}


def _jinja_string(text: str) -> str:
    """A Jinja string literal for any text: only letters, digits and ``_-. `` appear as such,
    everything else as an escape, so a device-supplied name cannot end the template."""
    def one(c: str) -> str:
        if c.isascii() and (c.isalnum() or c in "_-. "):
            return c
        return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"

    return '"' + "".join(one(c) for c in text) + '"'


def expire_after(config: DeviceConfig, sensor: str) -> int | None:
    """Seconds without a reading after which Home Assistant shows the sensor unavailable.

    The device's offline timeout (3 intervals, or its stale timeout); with a deadband, plus the
    heartbeat; with a deadband and no heartbeat an unchanged value is never re-sent: None.
    """
    seconds = config.offline_after()
    policy = config.report_policy(sensor)
    if policy is not None:
        if policy.heartbeat is None:
            return None
        seconds += policy.heartbeat
    return max(1, math.ceil(seconds))


class Naming:
    """Identifiers and topics of one gateway's discovery messages."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.homeassistant.prefix.rstrip("/")
        self.gateway = settings.gateway.id
        self.topics = TopicLayout(settings.topic_root)
        self.gateway_ident = f"{ORIGIN}_{ha_id(self.gateway)}"
        self.gateway_in_ids = settings.homeassistant.gateway_in_entity_ids
        self.micro_sign = settings.homeassistant.micro_sign
        self.qos = settings.mqtt.qos

    def node(self, device_id: str) -> str:
        return ha_id(f"{self.gateway}_{sanitize(device_id)}")

    def object_id(self, device_id: str, sensor: str) -> str:
        """The entity id's object part, fixed by the config (not derived from names that may
        change), in Home Assistant's entity id alphabet ``[a-z0-9_]``."""
        parts = [self.gateway] if self.gateway_in_ids else []
        return entity_slug("_".join([*parts, sanitize(device_id), sanitize(sensor)]))

    def config_topic(self, node: str) -> str:
        return f"{self.prefix}/device/{node}/config"


def _origin(settings: Settings) -> dict[str, str]:
    origin = {"name": ORIGIN, "sw_version": __version__}
    if settings.homeassistant.support_url:
        origin["support_url"] = settings.homeassistant.support_url
    return origin


def device_name(config: DeviceConfig) -> str:
    """What Home Assistant calls the device: its ``name``, else its id made readable."""
    if config.name:
        return config.name
    words = " ".join(sanitize(config.id).replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else config.id


def entity_name(config: DeviceConfig, sensor: str) -> str:
    """The entity's name, shown after the device's: from the kinds table where the sensor is
    a known kind ("PM2.5"), else the sensor's name made readable, never with the device's name
    in front ("greenhouse_temperature" on device "greenhouse" is "Temperature")."""
    for prefix in dict.fromkeys((sanitize(config.id), device_name(config))):
        rest = _strip_prefix(sensor, prefix)
        if rest is not None:
            return display_name(rest)
    return display_name(sensor)


def _strip_prefix(sensor: str, prefix: str) -> str | None:
    """``sensor`` without a leading device name (case and ``_``/``-``/space insensitive)."""
    head, name = _words(prefix), _words(sensor)
    if head and name.startswith(head + "_") and len(name) > len(head) + 1:
        return name[len(head) + 1:]
    return None


def _words(text: str) -> str:
    return re.sub(r"[\s_-]+", "_", text.strip().lower())


def component(
    naming: Naming, config: DeviceConfig, name: str, kind: str, unit: str | None
) -> dict[str, Any]:
    """One sensor's entry under ``components``."""
    device_id = sanitize(config.id)
    c: Classification = classify(kind, unit)
    value = "value_json.value"
    state_topic = naming.topics.sensor(device_id, name)
    if config.layout == "device":
        state_topic = naming.topics.device(device_id)
        value = f"value_json.readings[{_jinja_string(sanitize(name))}].value"
    object_id = naming.object_id(device_id, name)
    entry: dict[str, Any] = {
        "platform": c.platform,
        "name": entity_name(config, name),
        "unique_id": f"{naming.node(device_id)}_{ha_id(sanitize(name))}",
        # HA before 2025.10 reads object_id, later releases default_entity_id
        "object_id": object_id,
        "default_entity_id": f"{c.platform}.{object_id}",
        "state_topic": state_topic,
        "qos": naming.qos,  # HA 2025.4 reads qos per component only
    }
    if c.platform == "binary_sensor":
        entry["value_template"] = "{{ 'ON' if " + value + " else 'OFF' }}"
    else:
        entry["value_template"] = "{{ " + value + " }}"
    optional = {"device_class": c.device_class, "state_class": c.state_class,
                "unit_of_measurement": ha_unit(c.unit, micro_sign=naming.micro_sign),
                "entity_category": c.entity_category,
                "expire_after": expire_after(config, name)}
    entry.update({k: v for k, v in optional.items() if v is not None})
    return entry


def device_payload(
    settings: Settings, config: DeviceConfig, components: dict[str, dict[str, Any]],
    model: DeviceModel | None = None,
) -> dict[str, Any]:
    """The whole discovery message of one device (``model``: as the driver described it at
    run time; default: what the config tells)."""
    naming = Naming(settings)
    device_id = sanitize(config.id)
    node = naming.node(device_id)
    described = model or config.device_model()
    device: dict[str, Any] = {"identifiers": [f"{ORIGIN}_{node}"], "name": device_name(config),
                              "model": described.model, "via_device": naming.gateway_ident}
    if described.manufacturer:
        device["manufacturer"] = described.manufacturer
    return {
        "device": device,
        "origin": _origin(settings),
        "availability": [
            {"topic": naming.topics.gateway_status, "payload_available": "online",
             "payload_not_available": "offline"},
            {"topic": naming.topics.device_status(device_id), "payload_available": "online",
             "payload_not_available": "offline"},
        ],
        "availability_mode": "all",
        "qos": settings.mqtt.qos,
        "components": components,
    }


def gateway_payload(settings: Settings) -> dict[str, Any]:
    """The gateway as a device: a connectivity binary sensor on ``<root>/status``."""
    naming = Naming(settings)
    return {
        "device": {"identifiers": [naming.gateway_ident], "name": settings.gateway.id,
                   "manufacturer": "sensor-gateway", "model": "sensor gateway",
                   "sw_version": __version__},
        "origin": _origin(settings),
        "qos": settings.mqtt.qos,
        "components": {"status": {
            "platform": "binary_sensor", "name": "Status", "device_class": "connectivity",
            "entity_category": "diagnostic", "unique_id": f"{naming.gateway_ident}_status",
            "object_id": entity_slug(f"{settings.gateway.id}_status"),
            "default_entity_id": f"binary_sensor.{entity_slug(settings.gateway.id + '_status')}",
            "state_topic": naming.topics.gateway_status, "qos": settings.mqtt.qos,
            "payload_on": "online", "payload_off": "offline",
        }},
    }


class Discovery:
    """Keeps every device's discovery message up to date on the publisher's retained state."""

    def __init__(self, settings: Settings, publisher: Publisher,
                 replay: Callable[[str], None] | None = None) -> None:
        """``replay(device_id)`` sends a device's last readings again (see the module doc)."""
        self.settings = settings
        self.publisher = publisher
        self.naming = Naming(settings)
        self._replay = replay
        self._pending: dict[float, dict[str, float]] = {}  # delay -> device -> discovery sent
        self._timers: dict[float, asyncio.TimerHandle] = {}  # delay -> its next replay
        self._configs: dict[str, DeviceConfig] = {}
        self._components: dict[str, dict[str, dict[str, Any]]] = {}
        self._models: dict[str, DeviceModel] = {}  # as drivers described them at run time
        self._topics: set[str] = set()  # every config topic we sent
        self._owned: dict[str, str] = {}  # config topic -> configured device (even unannounced)

    def start(self, devices: list[DeviceConfig]) -> None:
        """Announce the gateway and every device with known sensors; listen to HA."""
        prefix = self.naming.prefix
        self.publisher.subscribe(f"{prefix}/status", self._on_ha_status)
        self.publisher.subscribe(f"{prefix}/device/+/config", self._on_config)
        self.publisher.on_session(lambda: self._replay_later(self._configs))
        gateway_topic = self.naming.config_topic(ha_id(self.settings.gateway.id))
        self._send(gateway_topic, gateway_payload(self.settings))
        self.update(devices)

    def update(self, devices: list[DeviceConfig]) -> None:
        """The configured devices (at start, and after a config reload): announce new and
        changed ones, remove the ones no longer there."""
        wanted = {sanitize(config.id): config for config in devices}
        for device_id in set(self._configs) - set(wanted):
            topic = self.naming.config_topic(self.naming.node(device_id))
            del self._configs[device_id], self._components[device_id], self._owned[topic]
            self._models.pop(device_id, None)
            self._topics.add(topic)
            self.publisher.set_retained(topic, "")
        for device_id, config in wanted.items():
            if self._configs.get(device_id) == config:
                continue
            before = self._components.get(device_id, {})
            self._configs[device_id] = config
            self._owned[self.naming.config_topic(self.naming.node(device_id))] = device_id
            self._components[device_id] = {
                ha_id(sanitize(name)): component(self.naming, config, name, kind, unit)
                for name, (kind, unit) in expected_sensors(config).items()
            }
            self._carry_over(device_id, {c: e for c, e in before.items() if "unique_id" in e})
            self._announce(device_id)

    def sensor_seen(self, device_id: str, first: Measurement) -> None:
        """A sensor reported for the first time: add (or correct) its component."""
        config = self._configs.get(device_id)
        if config is None:
            return
        known = expected_sensors(config).get(first.name)
        kind = known[0] if known else first.name
        entry = component(self.naming, config, first.name, kind, first.unit)
        components = self._components[device_id]
        if components.get(ha_id(sanitize(first.name))) != entry:
            components[ha_id(sanitize(first.name))] = entry
            self._announce(device_id)

    def model_seen(self, device_id: str, model: DeviceModel) -> None:
        """A driver described its device (``ctx.describe``): announce it if that changed."""
        if device_id in self._configs and self._models.get(device_id) != model:
            self._models[device_id] = model
            self._announce(device_id)

    def _announce(self, device_id: str) -> None:
        components = self._components[device_id]
        if not components:
            return  # sensors known once it reports
        payload = device_payload(self.settings, self._configs[device_id], components,
                                 self._models.get(device_id))
        self._send(self.naming.config_topic(self.naming.node(device_id)), payload)
        self._replay_later([device_id])

    def _replay_later(self, device_ids: Iterable[str]) -> None:
        """``replay_delays`` seconds after the last discovery of each of these devices, send
        its last readings again (coalesced: one replay per device and delay, however many
        discovery messages went out in between)."""
        if self._replay is None:
            return
        now = asyncio.get_running_loop().time()
        for delay in self.settings.homeassistant.replay_delays:
            pending = self._pending.setdefault(delay, {})
            pending.update(dict.fromkeys(device_ids, now))
            self._arm(delay)

    def _arm(self, delay: float) -> None:
        pending = self._pending.get(delay)
        if pending and delay not in self._timers:
            self._timers[delay] = asyncio.get_running_loop().call_at(
                min(pending.values()) + delay, self._replay_due, delay)

    def _replay_due(self, delay: float) -> None:
        del self._timers[delay]
        now = asyncio.get_running_loop().time()
        pending = self._pending[delay]
        for device_id in [d for d, sent in pending.items() if sent + delay <= now + 0.01]:
            del pending[device_id]
            if device_id in self._configs and self._replay is not None:
                self._replay(device_id)
        self._arm(delay)

    def close(self) -> None:
        """Shutdown: no replay is sent any more."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()

    def _send(self, topic: str, payload: dict[str, Any], *, force: bool = False) -> None:
        self._topics.add(topic)
        self.publisher.set_retained(topic, json.dumps(payload, ensure_ascii=False), force=force)

    def _on_ha_status(self, topic: str, payload: bytes, retained: bool) -> None:
        if payload.strip() != b"online":
            return
        log.info("Home Assistant is online: sending discovery again")
        for config_topic in sorted(self._topics):
            self.publisher.set_retained(config_topic, self._current(config_topic), force=True)
        self._replay_later(self._configs)

    def _current(self, topic: str) -> str:
        return self.publisher.retained(topic) or ""

    def _on_config(self, topic: str, payload: bytes, retained: bool) -> None:
        """A retained config of this gateway from an earlier run (read back on connect)."""
        if not payload or not retained:
            return
        try:
            body = json.loads(payload)
            via = body["device"]["via_device"]
            old = {cid: c for cid, c in body["components"].items() if "unique_id" in c}
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if via != self.naming.gateway_ident:
            return  # another gateway's, or not ours at all
        device_id = self._owned.get(topic)
        if device_id is None:
            log.info("removing the Home Assistant discovery of a device no longer configured: "
                     "%s", topic)
            self._topics.add(topic)
            self.publisher.set_retained(topic, "")
        else:
            self._reconcile(device_id, old)

    def _reconcile(self, device_id: str, old: dict[str, dict[str, Any]]) -> None:
        if self._carry_over(device_id, old):
            self._announce(device_id)

    def _carry_over(self, device_id: str, old: dict[str, dict[str, Any]]) -> bool:
        """Components from before (last run, or before a reload) that are not in the current
        ones: kept if the device finds its sensors at run time, else removed with HA's
        platform-only stub. Whether anything changed."""
        components = self._components[device_id]
        static = bool(expected_sensors(self._configs[device_id]))
        changed = False
        for cid, entry in old.items():
            if cid in components:
                continue
            components[cid] = {"platform": entry.get("platform", "sensor")} if static else entry
            changed = True
        return changed
