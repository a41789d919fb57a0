"""Sparkplug payloads and the edge node's counters, without a broker; config checks.

Field numbers and rules from the Eclipse Sparkplug 3.0 specification (payload schema
``sparkplug_b.proto``; ``seq`` 0..255 with NBIRTH at 0; ``bdSeq`` 0..255 per session;
STATE as JSON ``{"online": bool, "timestamp": ms}``). End to end against an independent host:
test_edge_node.py."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.inproc import config_problems

from gateway.config import SparkplugSection
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Entry
from gateway.errors import DecodeError
from gateway.sparkplug import payloads
from gateway.sparkplug import sparkplug_b_pb2 as pb
from gateway.sparkplug.data import SparkplugData
from gateway.sparkplug.node import EdgeNode


def node() -> EdgeNode:
    return EdgeNode(SparkplugSection(enabled=True, group_id="g"), "gw", TopicLayout("sg/gw"))


def reading(seq: int, device: str = "d1", sensor: str = "temperature") -> Entry:
    payload = (f'{{"value":{seq}.5,"unit":"°C","ts":"2026-12-04T08:00:00.{seq % 1000:03d}Z",'
               f'"seq":{seq}}}').encode()
    return Entry(f"sg/gw/{device}/{sensor}", payload, device)


@given(st.binary(max_size=300))
def test_ncmd_bytes_give_a_bool_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        assert payloads.rebirth_requested(data) in (True, False)


@given(st.binary(max_size=200))
def test_state_bytes_give_a_bool_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        assert payloads.host_online(data) in (True, False)


def test_state_in_both_spellings() -> None:
    assert payloads.host_online(b'{"online": true, "timestamp": 1}') is True
    assert payloads.host_online(b'{"online": false, "timestamp": 1}') is False
    assert payloads.host_online(b"ONLINE") is True  # Sparkplug 2.2 hosts
    with pytest.raises(DecodeError):
        payloads.host_online(b'{"online": "yes"}')


def test_seq_counts_every_message_and_wraps() -> None:
    edge = node()
    edge.new_session()
    births = edge.control()
    assert [m.topic for m in births] == ["spBv1.0/g/NBIRTH/gw"]
    seqs = [pb.Payload.FromString(births[0].payload).seq]
    for n in range(1, 600):
        messages, unreadable = edge.translate([reading(n)])
        assert not unreadable
        seqs += [pb.Payload.FromString(m.payload).seq for m in messages]
    assert seqs[:3] == [0, 1, 2]  # NBIRTH, DBIRTH, DDATA
    assert all(b == (a + 1) % 256 for a, b in itertools.pairwise(seqs))
    assert seqs.count(0) == 3  # the NBIRTH and two wraps


def test_bd_seq_is_one_more_each_session_and_wraps() -> None:
    edge = node()
    deaths = [pb.Payload.FromString(edge.new_session().payload) for _ in range(258)]
    assert [d.metrics[0].long_value for d in deaths[:2]] == [0, 1]
    assert deaths[256].metrics[0].long_value == 0
    assert all(d.metrics[0].name == "bdSeq" and d.metrics[0].datatype == 4 for d in deaths)


def test_data_by_alias_and_a_new_sensor_rebirths_the_device() -> None:
    edge = node()
    edge.new_session()
    edge.control()
    messages, _ = edge.translate([reading(1), reading(2)])
    birth, data = (pb.Payload.FromString(m.payload) for m in messages)
    assert messages[0].topic == "spBv1.0/g/DBIRTH/gw/d1"
    assert [(m.name, m.alias, m.datatype) for m in birth.metrics] == [("temperature", 1, 10)]
    assert birth.metrics[0].properties.keys == ["engUnit"]
    assert birth.metrics[0].properties.values[0].string_value == "°C"
    assert isinstance(messages[1], SparkplugData) and len(messages[1].entries) == 2
    assert [(m.name, m.alias, m.double_value) for m in data.metrics] == [
        ("", 1, 1.5), ("", 1, 2.5)]
    messages, _ = edge.translate([reading(3, sensor="humidity")])
    assert [m.topic.split("/")[2] for m in messages] == ["DBIRTH", "DDATA"]
    birth = pb.Payload.FromString(messages[0].payload)
    assert [(m.name, m.alias) for m in birth.metrics] == [("temperature", 1), ("humidity", 2)]


def test_ddeath_only_for_a_device_born_in_this_session() -> None:
    edge = node()
    edge.new_session()
    edge.control()
    edge.device_status("d1", online=False)  # never born: nothing to say
    assert edge.control() == []
    edge.translate([reading(1)])
    edge.device_status("d1", online=False)
    assert [m.topic for m in edge.control()] == ["spBv1.0/g/DDEATH/gw/d1"]
    messages, _ = edge.translate([reading(2)])  # back: born again first
    assert [m.topic.split("/")[2] for m in messages] == ["DBIRTH", "DDATA"]


def test_not_a_reading_is_given_back() -> None:
    edge = node()
    edge.new_session()
    edge.control()
    stats = Entry("sg/gw/stats", b'{"readings": 1}', "")
    broken = Entry("sg/gw/d1/temperature", b"not json", "d1")
    messages, unreadable = edge.translate([stats, broken])
    assert messages == [stats] and unreadable == [broken]


@pytest.mark.parametrize(("text", "key"), [
    ("[sparkplug]\nenabled = true\n", "sparkplug.group_id"),
    ('[sparkplug]\nenabled = true\ngroup_id = "a/b"\n', "sparkplug.group_id"),
    ('[sparkplug]\nenabled = true\ngroup_id = "g"\nedge_node_id = "n+"\n',
     "sparkplug.edge_node_id"),
    ('[sparkplug]\nenabled = true\ngroup_id = "g"\n[homeassistant]\ndiscovery = true\n',
     "homeassistant.discovery"),
])
def test_config_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    assert [k for k, _ in config_problems(tmp_path, text)] == [key]
