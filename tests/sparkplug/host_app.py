"""A Sparkplug B primary host application built on pysparkplug (an independent implementation
from the package registries: its own generated protobuf module, its own Sparkplug rules), to
see the gateway as a SCADA host does. It runs in its own virtual environment (pysparkplug needs
paho-mqtt 1.x; the gateway's aiomqtt needs 2.x): tests/support/sparkplug.py builds it.

    python host_app.py <broker host> <port> <group_id> <host_id>

- Connects, subscribes to ``spBv1.0/<group_id>/#``, and prints one JSON line per message it
  decodes (pysparkplug decodes DDATA aliases with the DBIRTH it saw; a message it cannot decode
  prints ``{"error": ...}``).
- Reads commands on stdin: ``online`` / ``offline`` publish its STATE (retained, QoS 1; its will
  is ``offline``), ``rebirth <edge_node_id>`` publishes an NCMD ``Node Control/Rebirth``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pysparkplug as psp
from pysparkplug._protobuf import Payload  # the library's own generated schema (engUnit)


def now_ms() -> int:
    return int(time.time() * 1000)


def describe(message: psp.Message, raw: bytes) -> dict[str, Any]:
    topic = message.topic
    out: dict[str, Any] = {"type": str(topic.message_type), "node": topic.edge_node_id,
                           "device": topic.device_id}
    payload = message.payload
    if isinstance(payload, psp.NDeath):
        out["bdSeq"] = payload.bd_seq_metric.value
        return out
    out["timestamp"] = getattr(payload, "timestamp", None)
    out["seq"] = getattr(payload, "seq", None)
    metrics = getattr(payload, "metrics", ())
    out["metrics"] = [{"name": m.name, "alias": m.alias, "datatype": int(m.datatype),
                       "value": m.value, "historical": m.is_historical,
                       "timestamp": m.timestamp} for m in metrics]
    units = {}
    for metric in Payload.FromString(raw).metrics:
        props = metric.properties
        for key, value in zip(props.keys, props.values, strict=True):
            if key == "engUnit":
                units[metric.name] = value.string_value
    out["units"] = units
    return out


def main() -> None:
    host, port, group, host_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = psp.Client(client_id=f"scada-{host_id}")
    state = psp.Topic(message_type=psp.MessageType.STATE, sparkplug_host_id=host_id)

    def state_message(online: bool) -> psp.Message:
        return psp.Message(topic=state, payload=psp.State(timestamp=now_ms(), online=online),
                           qos=psp.QoS.AT_LEAST_ONCE, retain=True)

    client.set_will(state_message(False))

    raw_handler = client._handle_message  # keep the raw bytes for the properties

    def handle(mqtt_message: Any) -> psp.Message:
        try:
            message = raw_handler(mqtt_message)
        except Exception as exc:
            print(json.dumps({"error": repr(exc), "topic": mqtt_message.topic}), flush=True)
            raise
        print(json.dumps(describe(message, mqtt_message.payload)), flush=True)
        return message

    client._handle_message = handle
    client.subscribe(psp.Topic(group_id=group, message_type=psp.MULTI_LEVEL_WILDCARD),
                     psp.QoS.AT_LEAST_ONCE, lambda _c, _m: None)
    client.connect(host, port=port, keepalive=5, blocking=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words == ["online"] or words == ["offline"]:
            client.publish(state_message(words[0] == "online"))
        elif len(words) == 2 and words[0] == "rebirth":
            rebirth = psp.Metric(timestamp=now_ms(), name="Node Control/Rebirth",
                                 datatype=psp.DataType.BOOLEAN, value=True)
            topic = psp.Topic(group_id=group, message_type=psp.MessageType.NCMD,
                              edge_node_id=words[1])
            client.publish(psp.Message(topic=topic, payload=psp.NCmd(timestamp=now_ms(),
                                                                     metrics=(rebirth,)),
                                       qos=psp.QoS.AT_MOST_ONCE, retain=False),
                           include_dtypes=True)
        print(json.dumps({"done": line.strip()}), flush=True)
    client.disconnect()


if __name__ == "__main__":
    main()
