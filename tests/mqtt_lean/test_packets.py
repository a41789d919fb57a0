"""MQTT 3.1.1 packet encoders and the stream framer, against bytes worked out from the spec."""

from __future__ import annotations

import pytest

from gateway.mqtt.packets import (
    PacketReader,
    ProtocolViolation,
    Will,
    connack_code,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    only_pubacks,
    packet_id,
    parse_publish,
    remaining_length,
    topic_field,
    topic_matches,
)


@pytest.mark.parametrize(("n", "encoded"), [
    (0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"), (16_384, "808001"),
    (2_097_151, "ffff7f"), (2_097_152, "80808001"), (268_435_455, "ffffff7f"),
])
def test_remaining_length(n: int, encoded: str) -> None:
    assert remaining_length(n).hex() == encoded


def test_remaining_length_too_large() -> None:
    with pytest.raises(ValueError, match="too large"):
        remaining_length(268_435_456)


def test_connect_minimal() -> None:
    assert encode_connect("c1", 30).hex() == "100e00044d5154540402001e00026331"


def test_connect_with_will_and_credentials() -> None:
    packet = encode_connect("c", 60, will=Will("w", b"off", qos=1, retain=True),
                            username="u", password="p")
    body = ("00044d515454" "04" "ee" "003c"  # protocol, level 4, flags, keepalive 60
            "000163" "000177" "00036f6666" "000175" "000170")
    assert packet.hex() == "10" + f"{len(body) // 2:02x}" + body


def test_connect_flags_without_will() -> None:
    packet = encode_connect("c", 5, username="u")
    assert packet[9] == 0x82  # clean session + user name, no password, no will


def test_publish_qos1_and_qos0() -> None:
    topic = topic_field("a/b")
    assert topic.hex() == "0003612f62"
    assert encode_publish(topic, b"x", 1, 10).hex() == "3208" "0003612f62" "000a" "78"
    assert encode_publish(topic, b"x", 0, retain=True).hex() == "3106" "0003612f62" "78"
    assert encode_publish(topic, b"x", 1, 1, dup=True)[0] == 0x3A


def test_publish_long_payload_uses_multibyte_length() -> None:
    packet = encode_publish(topic_field("t"), b"z" * 200, 1, 7)
    assert packet[:3].hex() == "32" "cd01"  # 3 + 2 + 200 = 205 = 0xcd -> cd 01
    assert packet.endswith(b"z" * 200)


def test_reader_frames_a_stream_fed_byte_by_byte() -> None:
    stream = bytes.fromhex("20020000" "40020001" "4002ffff" "d000" "3005" "0001" "74" "6869")
    reader = PacketReader()
    packets = []
    for byte in stream:
        packets += reader.feed(bytes([byte]))
    assert packets == [(2, 0, b"\x00\x00"), (4, 0, b"\x00\x01"), (4, 0, b"\xff\xff"),
                       (13, 0, b""), (3, 0, b"\x00\x01thi")]
    assert packet_id(packets[2][2]) == 65535
    assert connack_code(packets[0][2]) == 0


def test_reader_keeps_a_partial_packet() -> None:
    reader = PacketReader()
    assert reader.feed(bytes.fromhex("400200")) == []
    assert reader.feed(bytes.fromhex("05" "d0")) == [(4, 0, b"\x00\x05")]
    assert reader.feed(bytes.fromhex("00")) == [(13, 0, b"")]


@pytest.mark.parametrize(("data", "count"), [
    ("40020001", 1),
    ("4002000140020002" "4002ffff", 3),
    ("", 0),
    ("400200", 0),  # a partial one: the framer keeps it
    ("4002000140", 0),  # one and a part
    ("4003000100", 0),  # an MQTT 5 PUBACK with a reason code
    ("40020001" "90030001" "00", 0),  # a SUBACK behind it
    ("42020001", 0),  # reserved flags set: the framer's check refuses it
    ("d000" "d000", 0),  # PINGRESPs: 4 bytes, not PUBACKs
])
def test_only_pubacks_recognises_a_read_of_nothing_but_pubacks(data: str, count: int) -> None:
    raw = bytes.fromhex(data)
    assert only_pubacks(raw) == count
    assert only_pubacks(memoryview(raw)) == count
    if count:  # what the framer makes of the same bytes
        assert [kind for kind, _, _ in PacketReader().feed(raw)] == [4] * count


def test_reader_rejects_a_five_byte_length() -> None:
    with pytest.raises(ProtocolViolation):
        PacketReader().feed(bytes.fromhex("30ffffffff01"))


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00"])
def test_bad_puback_and_connack_bodies(body: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        packet_id(body)
    with pytest.raises(ProtocolViolation):
        connack_code(body)


def test_subscribe_and_puback() -> None:
    assert encode_subscribe(2, "a/#", 1).hex() == "8208" "0002" "0003612f23" "01"
    assert encode_puback(258).hex() == "40020102"


def test_parse_publish() -> None:
    assert parse_publish(0b0011, bytes.fromhex("0003612f62" "0007") + b"on") == (
        "a/b", b"on", 1, 7, True)
    assert parse_publish(0, bytes.fromhex("0001" "74") + b"x") == ("t", b"x", 0, 0, False)


@pytest.mark.parametrize(("flags", "body"), [
    (0b0110, b"\x00\x01t"),            # QoS 3
    (0, b"\x00"),                      # no topic length
    (0, b"\x00\x05ab"),                # topic longer than the packet
    (0b0010, b"\x00\x01t\x00"),        # QoS 1 without a whole packet id
    (0, b"\x00\x02\xff\xfe"),          # topic not UTF-8
])
def test_parse_publish_rejects(flags: int, body: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        parse_publish(flags, body)


@pytest.mark.parametrize(("topic", "topic_filter", "matches"), [
    ("homeassistant/status", "homeassistant/status", True),
    ("homeassistant/status", "homeassistant/+", True),
    ("homeassistant/status", "homeassistant/#", True),
    ("homeassistant", "homeassistant/#", True),
    ("homeassistant/status/x", "homeassistant/+", False),
    ("a/b/c", "+/+/+", True),
    ("a/b", "a/b/c", False),
    ("a//b", "a/+/b", True),
    ("$SYS/broker", "#", False),
    ("$SYS/broker", "+/broker", False),
    ("$SYS/broker", "$SYS/#", True),
])
def test_topic_matches(topic: str, topic_filter: str, matches: bool) -> None:
    assert topic_matches(topic, topic_filter) is matches


def test_reader_yields_the_good_packets_before_a_malformed_one() -> None:
    packets = PacketReader().packets(bytes.fromhex("40020001" "30ffffffff01"))
    assert next(packets) == (4, 0, b"\x00\x01")
    with pytest.raises(ProtocolViolation):
        next(packets)
