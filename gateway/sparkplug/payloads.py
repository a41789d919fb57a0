"""Sparkplug B payloads (Eclipse Sparkplug 3.0), built and read with the official schema.

``sparkplug_b_pb2`` is generated from ``sparkplug_b.proto`` beside this file; only the protobuf
runtime is needed at run time. What the gateway sends:

- NBIRTH: ``bdSeq`` (Int64) and ``Node Control/Rebirth`` (Boolean, false); ``seq`` 0.
- DBIRTH: every sensor of the device as a metric: name, alias, datatype (Double), its last
  value and timestamp, and its unit as the property ``engUnit`` (String).
- DDATA: metrics by alias only, with their value, timestamp and ``is_historical`` for readings
  that waited (in the outbox, or for the primary host).
- DDEATH: timestamp and ``seq``. NDEATH: ``bdSeq`` only (it is the MQTT will).

Every payload carries a timestamp (ms since the epoch). Host messages read here: NCMD (a
rebirth request) and the primary host's STATE (JSON, Sparkplug 3.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError

from gateway.errors import DecodeError
from gateway.sparkplug import sparkplug_b_pb2 as pb

__all__ = [
    "BD_SEQ",
    "REBIRTH",
    "MetricValue",
    "device_birth",
    "device_data",
    "device_death",
    "host_online",
    "node_birth",
    "node_death",
    "rebirth_requested",
]

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
UNIT_PROPERTY = "engUnit"  # the property name Ignition and other hosts show as the unit

INT64 = pb.DataType.Int64
DOUBLE = pb.DataType.Double
BOOLEAN = pb.DataType.Boolean
STRING = pb.DataType.String


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One value of one metric: alias (and name, for births), value, unit, time (ms)."""

    name: str
    alias: int
    value: float
    unit: str | None
    timestamp: int
    historical: bool = False


def _payload(timestamp: int, seq: int | None) -> pb.Payload:
    payload = pb.Payload()
    payload.timestamp = timestamp
    if seq is not None:
        payload.seq = seq
    return payload


def _bd_seq(payload: pb.Payload, bd_seq: int) -> None:
    metric = payload.metrics.add()
    metric.name = BD_SEQ
    metric.datatype = INT64
    metric.long_value = bd_seq


def node_birth(bd_seq: int, timestamp: int) -> bytes:
    """NBIRTH: ``seq`` is 0 by definition."""
    payload = _payload(timestamp, 0)
    _bd_seq(payload, bd_seq)
    rebirth = payload.metrics.add()
    rebirth.name = REBIRTH
    rebirth.datatype = BOOLEAN
    rebirth.boolean_value = False
    return payload.SerializeToString()


def node_death(bd_seq: int, timestamp: int) -> bytes:
    """NDEATH (the will, and what a clean stop publishes): the ``bdSeq`` of its NBIRTH."""
    payload = _payload(timestamp, None)
    _bd_seq(payload, bd_seq)
    return payload.SerializeToString()


def device_birth(metrics: list[MetricValue], seq: int, timestamp: int) -> bytes:
    payload = _payload(timestamp, seq)
    for value in metrics:
        metric = payload.metrics.add()
        metric.name = value.name
        metric.alias = value.alias
        metric.datatype = DOUBLE
        metric.timestamp = value.timestamp
        metric.double_value = value.value
        if value.unit:
            metric.properties.keys.append(UNIT_PROPERTY)
            unit = metric.properties.values.add()
            unit.type = STRING
            unit.string_value = value.unit
    return payload.SerializeToString()


def device_data(metrics: list[MetricValue], seq: int, timestamp: int) -> bytes:
    payload = _payload(timestamp, seq)
    for value in metrics:
        metric = payload.metrics.add()
        metric.alias = value.alias
        metric.timestamp = value.timestamp
        metric.double_value = value.value
        if value.historical:
            metric.is_historical = True
    return payload.SerializeToString()


def device_death(seq: int, timestamp: int) -> bytes:
    return _payload(timestamp, seq).SerializeToString()


def rebirth_requested(data: bytes) -> bool:
    """Whether an NCMD payload asks for a rebirth (``Node Control/Rebirth`` = true, by name).
    Anything that is not a Sparkplug payload raises :class:`~gateway.errors.DecodeError`."""
    try:
        payload = pb.Payload.FromString(data)
    except (ProtobufDecodeError, ValueError, RuntimeError) as exc:
        raise DecodeError(f"not a Sparkplug B payload: {exc}", kind="sparkplug") from None
    return any(m.name == REBIRTH and m.WhichOneof("value") == "boolean_value"
               and m.boolean_value for m in payload.metrics)


def host_online(data: bytes) -> bool:
    """The primary host's STATE (Sparkplug 3.0: ``{"online": true, "timestamp": ...}``).
    Sparkplug 2.2 hosts publish ``ONLINE`` / ``OFFLINE`` as plain text: read too."""
    text = data.strip()
    if text in (b"ONLINE", b"OFFLINE"):
        return text == b"ONLINE"
    try:
        state = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise DecodeError("STATE is neither JSON nor ONLINE/OFFLINE", kind="sparkplug") from None
    if not isinstance(state, dict) or not isinstance(state.get("online"), bool):
        raise DecodeError('STATE has no boolean "online"', kind="sparkplug")
    return state["online"] is True
