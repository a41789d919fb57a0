"""Streaming framers: resynchronisation, chunking, error reporting and memory bounds."""

import random
from collections.abc import Sequence

import pytest

from drivers.serial.protocols import (
    MHZ19,
    PMS5003,
    SDS011,
    BinaryFramer,
    FrameResult,
    FrameSpec,
    KvLineDecoder,
    LineFramer,
    LineSplitter,
    decode_nmea,
    decode_pms5003,
    decode_sds011,
    encode_mhz19_response,
    encode_pms5003,
    encode_sds011,
    garbage,
)
from gateway.errors import DecodeError

PMS = encode_pms5003(5, 7, 8, particles=(1000, 300, 50, 10, 2, 1))
PMS2 = encode_pms5003(9, 9, 9)
SDS = bytes.fromhex("aa c0 d4 04 3a 0a a1 60 1d ab")
MHZ = bytes.fromhex("ff 86 02 60 47 00 00 00 d1")


def kinds(results: Sequence[FrameResult | bytes]) -> list[str]:
    return [r.kind if isinstance(r, DecodeError) else "frame" for r in results]


def feed_bytewise(framer: BinaryFramer, stream: bytes) -> list[FrameResult]:
    out: list[FrameResult] = []
    for i in range(len(stream)):
        out += framer.feed(stream[i : i + 1])
    return out


@pytest.mark.parametrize(("spec", "frame"), [(PMS5003, PMS), (SDS011, SDS), (MHZ19, MHZ)])
def test_good_frames_whole_and_bytewise(spec: FrameSpec, frame: bytes) -> None:
    expected = [spec.decode(frame)] * 3
    assert BinaryFramer(spec).feed(frame * 3) == expected
    assert feed_bytewise(BinaryFramer(spec), frame * 3) == expected


def test_incomplete_frame_waits_for_more_bytes() -> None:
    framer = BinaryFramer(PMS5003)
    assert framer.feed(PMS[:31]) == []
    assert framer.feed(PMS[31:]) == [decode_pms5003(PMS)]


def test_garbage_then_good_frame() -> None:
    framer = BinaryFramer(PMS5003)
    assert kinds(framer.feed(b"\x00\x13noise\x42" + PMS)) == ["garbage", "frame"]


def test_garbage_that_contains_a_header_prefix_at_the_chunk_end() -> None:
    framer = BinaryFramer(PMS5003)
    assert kinds(framer.feed(b"noise\x42")) == ["garbage"]
    assert kinds(framer.feed(PMS[1:])) == ["frame"]  # the kept 0x42 was the frame's start


def test_kept_header_prefix_that_is_not_a_header_joins_the_garbage_run() -> None:
    framer = BinaryFramer(PMS5003)
    assert kinds(framer.feed(b"noise\x42")) == ["garbage"]
    assert kinds(framer.feed(PMS)) == ["frame"]  # 42 | 42 4D...: one run, reported once


def test_frame_ending_in_a_header_byte_is_consumed_whole() -> None:
    # checksum = 0x42+0x4D+0x1C (0xAB) + 0x97 = 0x0142: the frame's last byte is 0x42
    frame = encode_pms5003(0, 0, 0, particles=(0x97, 0, 0, 0, 0, 0))
    assert frame[-1] == 0x42
    framer = BinaryFramer(PMS5003)
    assert kinds(framer.feed(frame)) == ["frame"]
    assert len(framer._buf) == 0
    assert kinds(framer.feed(frame)) == ["frame"]


def test_truncated_frame_followed_by_good_frame_is_not_lost() -> None:
    # a device reset mid-frame: 20 bytes of a frame, then a whole good frame
    framer = BinaryFramer(PMS5003)
    results = framer.feed(PMS[:20] + PMS2)
    assert kinds(results) == ["checksum", "frame"]
    assert results[1] == decode_pms5003(PMS2)


def test_bad_checksum_is_one_error_and_the_next_frame_decodes() -> None:
    bad = PMS[:-1] + bytes([PMS[-1] ^ 0xFF])
    assert kinds(BinaryFramer(PMS5003).feed(bad + PMS)) == ["checksum", "frame"]


def test_header_inside_a_bad_frame_is_tried() -> None:
    # a corrupted frame whose data holds a complete good SDS011 frame
    stream = b"\xaa\xc0" + SDS + b"\x00\x00"
    assert kinds(BinaryFramer(SDS011).feed(stream)) == ["decode", "frame", "garbage"]


def test_out_of_range_frame_is_skipped_whole() -> None:
    high = encode_pms5003(2000, 0, 0)
    assert kinds(BinaryFramer(PMS5003).feed(high + PMS)) == ["out_of_range", "frame"]


def test_long_garbage_runs_are_reported_periodically_and_memory_stays_bounded() -> None:
    framer = BinaryFramer(SDS011)
    results = []
    for _ in range(100):
        results += framer.feed(bytes(range(0, 0xAA)) * 10)  # no 0xAA: never a header
        assert len(framer._buf) == 0
    assert set(kinds(results)) == {"garbage"}
    assert len(results) == 665  # at bytes 1, 257, 513... of the run: ceil(170_000 / 256)
    assert framer.feed(b"\xaa") == []
    assert len(framer._buf) == 1  # a possible header start is kept
    assert kinds(framer.feed(SDS[1:])) == ["frame"]


def test_buffer_never_holds_more_than_one_frame() -> None:
    framer = BinaryFramer(PMS5003)
    framer.feed(b"\x42\x4d" * 1000)
    assert len(framer._buf) < PMS5003.size


def test_mixed_streams_keep_frame_types_apart() -> None:
    # a PMS framer ignores SDS frames and MH-Z19 responses (as garbage)
    results = BinaryFramer(PMS5003).feed(SDS + MHZ + PMS + encode_sds011(1.0, 2.0))
    assert kinds(results) == ["garbage", "frame", "garbage"]


def test_mhz19_responses_between_echoed_commands() -> None:
    command = bytes.fromhex("ff 01 86 00 00 00 00 00 79")
    stream = command + encode_mhz19_response(500) + command + encode_mhz19_response(600)
    results = BinaryFramer(MHZ19).feed(stream)
    assert [r[0].value for r in results if not isinstance(r, DecodeError)] == [500.0, 600.0]


def test_frame_spec_validation() -> None:
    with pytest.raises(ValueError, match="bad header"):
        FrameSpec("x", b"", 4, decode_sds011)
    with pytest.raises(ValueError, match="bad header"):
        FrameSpec("x", b"abc", 2, decode_sds011)


# --- lines ---------------------------------------------------------------------------------


def test_line_splitter_handles_crlf_empty_lines_and_chunks() -> None:
    splitter = LineSplitter(max_length=16)
    assert splitter.feed(b"a=1\r\nb=") == [b"a=1"]
    assert splitter.feed(b"2\r") == []
    assert splitter.feed(b"\n\n\r\nc=3\n") == [b"b=2", b"c=3"]


def test_line_exactly_at_the_limit_passes() -> None:
    splitter = LineSplitter(max_length=4)
    assert splitter.feed(b"abcd\r") == []
    assert splitter.feed(b"\nabcd\n") == [b"abcd", b"abcd"]
    assert kinds(splitter.feed(b"abcde\n")) == ["too_long"]


def test_runaway_device_without_newlines_cannot_grow_memory() -> None:
    splitter = LineSplitter(max_length=100)
    results = []
    for _ in range(1000):
        results += splitter.feed(b"x" * 1000)
        assert len(splitter._buf) <= 101
    assert kinds(results) == ["too_long"]  # reported once
    assert splitter.feed(b"rest of the runaway\nok\n") == [b"ok"]


def test_line_framer_decodes_and_reports_errors_in_order() -> None:
    framer = LineFramer(KvLineDecoder().decode, max_length=20)
    results = framer.feed(b"t=1\nnoise\n" + b"y" * 30 + b"\nt=nan\nt=2\n")
    assert kinds(results) == ["frame", "garbage", "too_long", "out_of_range", "frame"]
    first = results[0]
    assert isinstance(first, list)
    assert first[0].value == 1.0


def test_line_framer_with_nmea() -> None:
    gga = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
    framer = LineFramer(decode_nmea, max_length=82)  # NMEA's own maximum sentence length
    results = framer.feed(b"$GPGGA,1234" + b"\r\n" + gga + b"\r\n")
    assert kinds(results) == ["checksum", "frame"]


def test_max_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_length"):
        LineSplitter(0)


def test_garbage_helper_is_deterministic_noise_the_framers_survive() -> None:
    noise = garbage(random.Random(7), 500)
    assert len(noise) == 500
    assert noise == garbage(random.Random(7), 500)
    results = BinaryFramer(PMS5003).feed(noise + PMS)
    assert results[-1] == decode_pms5003(PMS)
    assert all(isinstance(r, DecodeError) for r in results[:-1])
