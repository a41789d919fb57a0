"""MQTT 3.1.1 packet encoders and the stream framer, against bytes worked out from the spec."""

from __future__ import annotations

import pytest

from gateway.mqtt_packets import (
    PacketReader,
    ProtocolViolation,
    Will,
    connack_code,
    encode_connect,
    encode_publish,
    packet_id,
    remaining_length,
    topic_field,
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


def test_reader_rejects_a_five_byte_length() -> None:
    with pytest.raises(ProtocolViolation):
        PacketReader().feed(bytes.fromhex("30ffffffff01"))


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00"])
def test_bad_puback_and_connack_bodies(body: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        packet_id(body)
    with pytest.raises(ProtocolViolation):
        connack_code(body)
