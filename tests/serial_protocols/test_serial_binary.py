"""PMS5003, SDS011 and MH-Z19 frames: known bytes with hand-computed checksums, and encoders."""

from collections.abc import Callable

import pytest

from drivers.serial.protocols import (
    decode_mhz19,
    decode_pms5003,
    decode_sds011,
    encode_mhz19_response,
    encode_pms5003,
    encode_sds011,
    mhz19_checksum,
    mhz19_read_command,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError


def kind_of(decode: Callable[[bytes], list[M]], frame: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode(frame)
    return info.value.kind


def flip(frame: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(frame)
    out[index] ^= mask
    return bytes(out)


# --- PMS5003 -------------------------------------------------------------------------------

# header 42 4D, length 00 1C (=28), CF=1: PM1.0 5, PM2.5 7, PM10 8; atmospheric: 5, 7, 8;
# counts >0.3 um 1000 (03 E8), >0.5 300 (01 2C), >1.0 50, >2.5 10, >5.0 2, >10 1; reserved 97 00.
# checksum = sum(bytes 0..29) = 0x42+0x4D (143) + 0x1C (28) + CF1 5+7+8 (20) + atm (20)
#   + 0x03+0xE8 (235) + 0x01+0x2C (45) + 0x32 (50) + 0x0A (10) + 2 + 1 + 0x97 (151) = 705 = 0x02C1
PMS_FRAME = bytes.fromhex(
    "424d 001c 0005 0007 0008 0005 0007 0008 03e8 012c 0032 000a 0002 0001 9700 02c1"
)
PMS_VALUES = [
    M("pm1_0", 5.0, "µg/m³"),
    M("pm2_5", 7.0, "µg/m³"),
    M("pm10", 8.0, "µg/m³"),
    M("particles_0_3um", 1000.0, "/0.1L"),
    M("particles_0_5um", 300.0, "/0.1L"),
    M("particles_1_0um", 50.0, "/0.1L"),
    M("particles_2_5um", 10.0, "/0.1L"),
    M("particles_5_0um", 2.0, "/0.1L"),
    M("particles_10um", 1.0, "/0.1L"),
]


def test_pms5003_known_frame() -> None:
    assert sum(PMS_FRAME[:30]) == 0x02C1
    assert decode_pms5003(PMS_FRAME) == PMS_VALUES


def test_pms5003_publishes_atmospheric_not_cf1() -> None:
    # CF=1 words 11, 12, 13 differ from the atmospheric 5, 7, 8;
    # checksum = 0x02C1 + (11-5) + (12-7) + (13-8) = 0x02C1 + 16 = 0x02D1
    frame = bytes.fromhex(
        "424d 001c 000b 000c 000d 0005 0007 0008 03e8 012c 0032 000a 0002 0001 9700 02d1"
    )
    assert decode_pms5003(frame) == PMS_VALUES


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (flip(PMS_FRAME, 31), "checksum"),  # checksum low byte
        (flip(PMS_FRAME, 8), "checksum"),  # a data byte
        (PMS_FRAME[:31], "decode"),  # truncated
        (PMS_FRAME + b"\x00", "decode"),
        (b"", "decode"),
        (b"\x42\x4e" + PMS_FRAME[2:], "garbage"),
        # length field 00 04 (a passive-mode ack), checksum fixed up: 0x02C1 - 0x1C + 0x04 = 0x02A9
        (PMS_FRAME[:2] + b"\x00\x04" + PMS_FRAME[4:30] + b"\x02\xa9", "decode"),
    ],
)
def test_pms5003_bad_frames(frame: bytes, kind: str) -> None:
    assert kind_of(decode_pms5003, frame) == kind


def test_pms5003_mass_above_1000_is_out_of_range() -> None:
    assert decode_pms5003(encode_pms5003(0, 1000, 1000))[1].value == 1000.0
    assert kind_of(decode_pms5003, encode_pms5003(0, 1001, 0)) == "out_of_range"


def test_pms5003_encoder() -> None:
    frame = encode_pms5003(5, 7, 8, particles=(1000, 300, 50, 10, 2, 1), reserved=0x9700)
    assert frame == PMS_FRAME
    with pytest.raises(ValueError, match="65535"):
        encode_pms5003(0, 70000, 0)
    with pytest.raises(ValueError, match="particle"):
        encode_pms5003(0, 0, 0, particles=(1, 2))


# --- SDS011 --------------------------------------------------------------------------------

# The datasheet example: PM2.5 = (0x04*256 + 0xD4)/10 = 123.6, PM10 = (0x0A*256 + 0x3A)/10 = 261.8,
# id A1 60; checksum = D4+04+3A+0A+A1+60 = 212+4+58+10+161+96 = 541 = 0x21D -> & 0xFF = 0x1D
SDS_FRAME = bytes.fromhex("aa c0 d4 04 3a 0a a1 60 1d ab")


def test_sds011_known_frame() -> None:
    assert decode_sds011(SDS_FRAME) == [M("pm2_5", 123.6, "µg/m³"), M("pm10", 261.8, "µg/m³")]


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (flip(SDS_FRAME, 8), "checksum"),
        (flip(SDS_FRAME, 3), "checksum"),
        (SDS_FRAME[:9] + b"\xac", "decode"),  # bad tail
        (SDS_FRAME[:9], "decode"),
        (bytes.fromhex("aa c5 d4 04 3a 0a a1 60 1d ab"), "garbage"),  # a command reply
        # PM10 = (0x27*256 + 0x10)/10 = 1000.0 > 999.9; checksum 0+0+0x10+0x27 = 0x37
        (bytes.fromhex("aa c0 00 00 10 27 00 00 37 ab"), "out_of_range"),
    ],
)
def test_sds011_bad_frames(frame: bytes, kind: str) -> None:
    assert kind_of(decode_sds011, frame) == kind


def test_sds011_encoder() -> None:
    assert encode_sds011(123.6, 261.8, device_id=0x60A1) == SDS_FRAME
    assert decode_sds011(encode_sds011(999.9, 0.0)) == [
        M("pm2_5", 999.9, "µg/m³"),
        M("pm10", 0.0, "µg/m³"),
    ]
    with pytest.raises(ValueError, match="out of range"):
        encode_sds011(-1.0, 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        encode_sds011(float("nan"), 0.0)


# --- MH-Z19 --------------------------------------------------------------------------------

# Read command: checksum = 0xFF - ((0x01 + 0x86) & 0xFF) + 1 = 0xFF - 0x87 + 1 = 0x79
READ_COMMAND = bytes.fromhex("ff 01 86 00 00 00 00 00 79")
# Response: co2 = 0x02*256 + 0x60 = 608 ppm, temperature = 0x47 - 40 = 71 - 40 = 31 °C;
# checksum = 0xFF - ((0x86+0x02+0x60+0x47) & 0xFF) + 1 = 0xFF - (0x12F & 0xFF = 0x2F) + 1 = 0xD1
MHZ_FRAME = bytes.fromhex("ff 86 02 60 47 00 00 00 d1")


def test_mhz19_read_command() -> None:
    assert mhz19_read_command() == READ_COMMAND
    assert mhz19_checksum(READ_COMMAND) == 0x79


def test_mhz19_known_response() -> None:
    assert mhz19_checksum(MHZ_FRAME) == 0xD1
    assert decode_mhz19(MHZ_FRAME) == [M("co2", 608.0, "ppm"), M("temperature", 31.0, "°C")]


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (flip(MHZ_FRAME, 8), "checksum"),
        (flip(MHZ_FRAME, 2), "checksum"),
        (MHZ_FRAME[:8], "decode"),
        (READ_COMMAND, "garbage"),  # our own command echoed back is not a response
        # co2 = 0x27*256 + 0x11 = 10001 ppm; checksum 0xFF - ((0x86+0x27+0x11+0x28) & 0xFF) + 1
        #   = 0xFF - (0xE6) + 1 = 0x1A
        (bytes.fromhex("ff 86 27 11 28 00 00 00 1a"), "out_of_range"),
    ],
)
def test_mhz19_bad_frames(frame: bytes, kind: str) -> None:
    assert kind_of(decode_mhz19, frame) == kind


def test_mhz19_encoder() -> None:
    assert encode_mhz19_response(608, 31) == MHZ_FRAME
    assert decode_mhz19(encode_mhz19_response(10000, -40)) == [
        M("co2", 10000.0, "ppm"),
        M("temperature", -40.0, "°C"),
    ]
    with pytest.raises(ValueError, match="out of range"):
        encode_mhz19_response(400, temperature=-41)
