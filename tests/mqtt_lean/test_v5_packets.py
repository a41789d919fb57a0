"""MQTT 5 packets (gateway/mqtt/v5.py): bytes worked out from the OASIS MQTT Version 5.0
standard (section 2.2.2 properties, 2.4 reason codes, 3.1 CONNECT, 3.2 CONNACK, 3.3 PUBLISH,
3.4 PUBACK, 3.9 SUBACK, 3.14 DISCONNECT), a fuzzer, and a real Mosquitto 2 answering them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.broker import free_port, mosquitto_binary, wait_port
from support.mqtt import collect

from gateway.mqtt import v5
from gateway.mqtt.packets import PacketReader, ProtocolViolation, Will, topic_field


def test_connect_minimal() -> None:
    # fixed header, protocol name, level 5, clean start, keepalive 30, no properties, client id
    assert v5.encode_connect("c1", 30).hex() == "100f" "00044d515454" "05" "02" "001e" "00" "00026331"


def test_connect_with_session_expiry_receive_maximum_and_will() -> None:
    packet = v5.encode_connect("c", 60, session_expiry=3600, receive_maximum=20,
                               will=Will("w", b"off", qos=1, retain=True), will_expiry=300,
                               username="u", password="p")
    body = ("00044d515454" "05" "ee" "003c"
            "08" "1100000e10" "210014"  # properties: session expiry 3600, receive maximum 20
            "000163"  # client id
            "05" "020000012c" "000177" "00036f6666"  # will properties (expiry 300), topic, payload
            "000175" "000170")
    assert packet.hex() == "10" + f"{len(body) // 2:02x}" + body


def test_publish_with_message_expiry_and_topic_alias() -> None:
    props = v5.PublishProperties(message_expiry=60, topic_alias=3).encode()
    assert props.hex() == "08" "020000003c" "230003"
    first = v5.encode_publish(topic_field("a/b"), b"x", 1, 10, properties=props)
    assert first.hex() == "3211" "0003612f62" "000a" + props.hex() + "78"
    again = v5.encode_publish(b"\x00\x00", b"x", 1, 11, properties=v5.PublishProperties(
        topic_alias=3).encode())
    assert again.hex() == "3209" "0000" "000b" "03230003" "78"
    assert v5.encode_publish(topic_field("t"), b"", 0, retain=True).hex() == "3104" "000174" "00"


def test_subscribe_carries_empty_properties_and_options() -> None:
    assert v5.encode_subscribe(5, "a/#").hex() == "8209" "0005" "00" "0003612f23" "01"


def test_connack_with_the_server_limits() -> None:
    props = "21" "0007" "22" "0005" "27" "000003e8" "13" "000a" "24" "01" "25" "00" "12" "0003616263"
    body = bytes.fromhex("01" "00" + f"{len(props) // 2:02x}" + props)
    connack = v5.parse_connack(body)
    assert (connack.session_present, connack.reason) == (True, 0)
    assert (connack.receive_maximum, connack.topic_alias_maximum) == (7, 5)
    assert (connack.maximum_packet_size, connack.server_keep_alive) == (1000, 10)
    assert (connack.maximum_qos, connack.retain_available) == (1, False)
    assert connack.assigned_client_id == "abc"


def test_connack_defaults_and_refusals() -> None:
    plain = v5.parse_connack(bytes.fromhex("000000"))
    assert (plain.receive_maximum, plain.topic_alias_maximum, plain.maximum_qos) == (65535, 0, 2)
    assert plain.retain_available and plain.maximum_packet_size is None
    refused = v5.parse_connack(bytes.fromhex("0087" "07" "1f0004" "6e6f7065"))
    assert refused.reason == 0x87 and refused.reason_string == "nope"
    assert v5.reason_text(refused.reason, refused.reason_string) == "not authorised (0x87): nope"
    # a 3.1.1-only broker answers level 5 with its own 2-byte CONNACK, code 1
    assert v5.parse_connack(bytes.fromhex("0001")).reason == 0x84


@pytest.mark.parametrize(("body", "expected"), [
    ("000a", (10, 0, None)),  # the short form: success
    ("000a10", (10, 0x10, None)),  # no matching subscribers: still a success (< 0x80)
    ("000a97", (10, 0x97, None)),  # quota exceeded
    ("000a99" "07" "1f0004" "62616421", (10, 0x99, "bad!")),
])
def test_puback_reason_codes(body: str, expected: tuple[int, int, str | None]) -> None:
    assert v5.parse_puback(bytes.fromhex(body)) == expected


def test_suback_and_disconnect() -> None:
    assert v5.parse_suback(bytes.fromhex("0001" "00" "0187")) == (1, [0x01, 0x87])
    assert v5.parse_disconnect(b"") == (0, None)
    assert v5.parse_disconnect(bytes.fromhex("95")) == (0x95, None)
    assert v5.parse_disconnect(bytes.fromhex("8b" "06" "1f0003" "627965")) == (0x8B, "bye")


def test_incoming_publish() -> None:
    body = bytes.fromhex("0003612f62" "0007" "05" "0200000010" "6869")
    assert v5.parse_publish(0x02, body) == ("a/b", b"hi", 1, 7, False)
    with pytest.raises(ProtocolViolation, match="alias"):
        v5.parse_publish(0x00, bytes.fromhex("0000" "03" "230001" "6869"))


@pytest.mark.parametrize(("parser", "body"), [
    (v5.parse_connack, "0000" "05" "2100"),  # properties longer than the packet
    (v5.parse_connack, "0000" "03" "210000"),  # Receive Maximum 0
    (v5.parse_connack, "0000" "02" "ff00"),  # unknown property
    (v5.parse_connack, "0200" "00"),  # reserved acknowledge flags
    (v5.parse_puback, "00"),
    (v5.parse_suback, "0001" "00"),
    (v5.parse_disconnect, "8b" "05" "1f0009" "6162"),
])
def test_malformed_packets_are_protocol_violations(parser: object, body: str) -> None:
    assert callable(parser)
    with pytest.raises(ProtocolViolation):
        parser(bytes.fromhex(body))


def test_topic_aliases_are_bounded() -> None:
    aliases = v5.TopicAliases(2)
    assert aliases.alias("a") == (1, False)
    assert aliases.alias("a") == (1, True)
    assert aliases.alias("b") == (2, False)
    assert aliases.alias("c") == (None, False)  # the server's maximum: sent in full
    assert aliases.alias("c") == (None, False)
    assert v5.TopicAliases(0).alias("a") == (None, False)


@given(st.binary(max_size=300), st.integers(0, 15))
def test_fuzzed_bytes_raise_only_protocol_violation(data: bytes, flags: int) -> None:
    parsers: list[Callable[[bytes], object]] = [
        v5.parse_connack, v5.parse_puback, v5.parse_suback, v5.parse_disconnect,
        lambda body: v5.parse_publish(flags, body), lambda body: v5.parse_properties(body, 0),
        lambda body: list(PacketReader().packets(body)),
    ]
    for parse in parsers:
        with contextlib.suppress(ProtocolViolation):
            parse(data)


@given(st.binary(max_size=200), st.integers(0, 65535), st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_publish_round_trip(payload: bytes, pid: int, expiry: int | None) -> None:
    props = v5.PublishProperties(message_expiry=expiry).encode()
    packet = v5.encode_publish(topic_field("s/t"), payload, 1, pid or 1, properties=props)
    [(kind, flags, body)] = PacketReader().feed(packet)
    assert kind == 3
    assert v5.parse_publish(flags, body) == ("s/t", payload, 1, pid or 1, False)


# --- a real Mosquitto 2 ----------------------------------------------------------------------

async def test_a_real_mosquitto_tells_its_limits_and_resolves_aliases(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 7\n"
                    "max_topic_alias 5\nmax_keepalive 10\nmax_packet_size 1000\n")
    proc = await asyncio.create_subprocess_exec(mosquitto_binary(), "-c", str(conf),
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_port, port)
        async with collect("127.0.0.1", port, "v5/#") as sub:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            frames = PacketReader()
            pending: list[tuple[int, int, bytes]] = []

            async def packet() -> tuple[int, int, bytes]:
                while not pending:
                    async with asyncio.timeout(5):
                        pending.extend(frames.feed(await reader.read(4096)))
                return pending.pop(0)

            writer.write(v5.encode_connect("", 60))  # empty id: the server assigns one
            kind, _, body = await packet()
            connack = v5.parse_connack(body)
            assert kind == 2 and connack.reason == 0
            assert (connack.receive_maximum, connack.topic_alias_maximum) == (7, 5)
            assert (connack.server_keep_alive, connack.maximum_packet_size) == (10, 1000)
            assert connack.assigned_client_id
            alias = v5.PublishProperties(topic_alias=1).encode()
            writer.write(v5.encode_publish(topic_field("v5/a"), b"1", 1, 1, properties=alias))
            writer.write(v5.encode_publish(b"\x00\x00", b"2", 1, 2, properties=alias))
            assert v5.parse_puback((await packet())[2])[:2] == (1, 0)
            assert v5.parse_puback((await packet())[2])[:2] == (2, 0)
            await sub.wait_for(lambda: len(sub.on("v5/a")) >= 2)
            assert [m.payload for m in sub.on("v5/a")] == [b"1", b"2"]  # both under the full topic
            writer.write(v5.encode_publish(topic_field("v5/a"), b"x" * 2000, 1, 3))
            kind, _, body = await packet()  # too large: the server says why, then closes
            assert kind == 14 and v5.parse_disconnect(body)[0] == 0x95
            writer.close()
    finally:
        proc.terminate()
        await proc.wait()
