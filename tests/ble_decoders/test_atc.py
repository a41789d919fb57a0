"""ATC1441 and pvvx custom formats (service data 0x181A), told apart by length."""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    ATC_UUID,
    Advert,
    decode_atc,
    decode_atc_payload,
    encode_atc1441,
    encode_pvvx,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

# Built by hand from the formats (no published vector at hand):
# ATC1441, big-endian: MAC a4 c1 38 8d 18 b2 | temperature 0x00e5 = 229 -> 22.9 °C |
# humidity 0x2d = 45 % | battery 0x5d = 93 % | 0x0b9a = 2970 mV | frame counter 0x07.
ATC1441 = "a4 c1 38 8d 18 b2 00 e5 2d 5d 0b 9a 07"
# pvvx, little-endian: MAC reversed | 0xf82e = -2002 -> -20.02 °C | 0x1194 = 4500 -> 45.00 % |
# 0x0b9a = 2970 mV | battery 0x5d = 93 % | counter 0x07 | flags 0x04.
PVVX = "b2 18 8d 38 c1 a4 2e f8 94 11 9a 0b 5d 07 04"


def test_atc1441() -> None:
    decoded = decode_atc_payload(bytes.fromhex(ATC1441))
    assert decoded.measurements == (
        M("temperature", 22.9, "°C"),
        M("humidity", 45, "%"),
        M("battery", 93, "%"),
        M("voltage", 2.97, "V"),
    )
    assert (decoded.decoder, decoded.model, decoded.packet_id) == ("atc", "ATC1441", 7)
    assert decoded.mac == "A4:C1:38:8D:18:B2"


def test_pvvx() -> None:
    decoded = decode_atc_payload(bytes.fromhex(PVVX))
    assert decoded.measurements == (
        M("temperature", -20.02, "°C"),
        M("humidity", 45.0, "%"),
        M("battery", 93, "%"),
        M("voltage", 2.97, "V"),
    )
    assert (decoded.decoder, decoded.model, decoded.packet_id) == ("atc", "pvvx", 7)
    assert decoded.mac == "A4:C1:38:8D:18:B2"


@pytest.mark.parametrize("length", [0, 1, 12, 14, 16, 20])
def test_other_lengths_are_rejected(length: int) -> None:
    with pytest.raises(DecodeError, match=f"{length} bytes"):
        decode_atc_payload(bytes(length))


def test_from_advert() -> None:
    advert = Advert("A4:C1:38:8D:18:B2", service_data={ATC_UUID: bytes.fromhex(PVVX)})
    assert decode_atc(advert).model == "pvvx"
    with pytest.raises(DecodeError) as info:
        decode_atc(Advert("A4:C1:38:8D:18:B2"))
    assert info.value.kind == "unsupported"


def test_encoders_reproduce_the_vectors() -> None:
    values = decode_atc_payload(bytes.fromhex(ATC1441)).measurements
    assert encode_atc1441(values, mac="A4:C1:38:8D:18:B2", counter=7).hex(" ") == ATC1441
    values = decode_atc_payload(bytes.fromhex(PVVX)).measurements
    assert encode_pvvx(values, mac="A4:C1:38:8D:18:B2", counter=7, flags=4).hex(" ") == PVVX


def test_encoders_reject_missing_or_out_of_range_values() -> None:
    complete = [M("temperature", 20, "°C"), M("humidity", 50, "%"), M("battery", 90, "%")]
    with pytest.raises(ValueError, match="voltage"):
        encode_atc1441(complete, mac="A4:C1:38:8D:18:B2", counter=0)
    complete.append(M("voltage", 3.0, "V"))
    with pytest.raises(ValueError, match="out of range"):
        encode_pvvx(complete, mac="A4:C1:38:8D:18:B2", counter=256)
    with pytest.raises(ValueError, match="out of range"):
        encode_atc1441([*complete[:3], M("voltage", 70.0, "V")], mac="A4:C1:38:8D:18:B2", counter=0)
    with pytest.raises(ValueError, match="cannot encode"):
        encode_pvvx(
            [*complete[:3], M("voltage", float("nan"), "V")], mac="A4:C1:38:8D:18:B2", counter=0
        )
