"""BTHome v2: tables of known bytes, negative cases, encryption."""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    BTHOME_UUID,
    Advert,
    decode_bthome,
    decode_bthome_payload,
    decrypt_bthome,
    encode_bthome,
    encrypt_bthome,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ADDRESS = "A4:C1:38:8D:18:B2"
# bthome-ble's published encryption example: key, sender, plaintext objects 02 ca 09 03 bf 13.
KEY = "231d39c1d7cc1ab1aee224cd096db932"
KEY_SENDER = "54:48:E6:8F:80:A5"


def decode_hex(hex_payload: str) -> tuple[M, ...]:
    return decode_bthome_payload(bytes.fromhex(hex_payload), address=ADDRESS).measurements


# (service data, expected measurements). "published": from libraries.md or bthome-ble's tests;
# the rest built by hand from the BTHome v2 object table, the computation in the comment.
KNOWN = [
    pytest.param(  # libraries.md mandatory vector
        "40 01 61 02 ca 09 03 bf 13",
        [M("battery", 97, "%"), M("temperature", 25.06, "°C"), M("humidity", 50.55, "%")],
        id="published-battery-temp-hum",
    ),
    pytest.param(  # bthome-ble test_bthome_pressure: 0x018a13 = 100883 -> 1008.83
        "40 04 13 8a 01", [M("pressure", 1008.83, "hPa")], id="published-pressure"
    ),
    pytest.param(  # bthome-ble test_bthome_illuminance: 0x148a13 = 1346067 -> 13460.67
        "40 05 13 8a 14", [M("illuminance", 13460.67, "lx")], id="published-illuminance"
    ),
    pytest.param(  # bthome-ble test_bthome_mass_kilograms: 0x1f5e = 8030 -> 80.3
        "40 06 5e 1f", [M("mass", 80.3, "kg")], id="published-mass-kg"
    ),
    pytest.param(  # bthome-ble: packet id 9, battery 0x5d=93, 0x095d=2397, 0x18b7=6327
        "40 00 09 01 5d 02 5d 09 03 b7 18",
        [M("battery", 93, "%"), M("temperature", 23.97, "°C"), M("humidity", 63.27, "%")],
        id="published-packet-id",
    ),
    pytest.param(  # bthome-ble Shelly BLU H&T Display ZB: light on, 0x34=52 %, 0x0116=278 -> 27.8
        "40 00 2e 01 64 1e 01 2e 34 45 16 01",
        [
            M("battery", 100, "%"),
            M("light", 1, None),
            M("humidity", 52, "%"),
            M("temperature", 27.8, "°C"),
        ],
        id="published-shelly-display",
    ),
    pytest.param(  # 0x08: dew point 0xf830 = -2000 (int16) -> -20.00
        "40 08 30 f8", [M("dew_point", -20.0, "°C")], id="dew-point-negative"
    ),
    pytest.param(  # 0x45: 0xff38 = -200 -> -20.0; 0x57: 0xec = -20; 0x58: 0xc6 = -58 * 0.35 = -20.3
        "40 45 38 ff 57 ec 58 c6",
        [
            M("temperature", -20.0, "°C"),
            M("temperature_2", -20.0, "°C"),
            M("temperature_3", -20.3, "°C"),
        ],
        id="temperature-variants-suffixed",
    ),
    pytest.param(  # 0x0c: 0x0c8a = 3210 mV -> 3.21 V; 0x4a: 0x0912 = 2322 -> 232.2 V
        "40 0c 8a 0c 4a 12 09", [M("voltage", 3.21, "V"), M("voltage_2", 232.2, "V")], id="voltage"
    ),
    # 0x0d pm2.5 0x0c = 12, 0x0e pm10 0x0123 = 291, 0x12 co2 0x04e2 = 1250, 0x13 tvoc 0x014d = 333
    pytest.param(
        "40 0d 0c 00 0e 23 01 12 e2 04 13 4d 01",
        [
            M("pm25", 12, "µg/m³"),
            M("pm10", 291, "µg/m³"),
            M("co2", 1250, "ppm"),
            M("tvoc", 333, "µg/m³"),
        ],
        id="air-quality",
    ),
    pytest.param(  # 0x0a energy 0x0138a4 = 80036 -> 80.036 kWh; 0x0b power 0x0138a4 -> 800.36 W
        "40 0a a4 38 01 0b a4 38 01",
        [M("energy", 80.036, "kWh"), M("power", 800.36, "W")],
        id="energy-power",
    ),
    pytest.param(  # 0x14 moisture 0x0bb8 = 3000 -> 30.00 %; 0x2f moisture uint8 0x23 = 35 %
        "40 14 b8 0b 2f 23", [M("moisture", 30.0, "%"), M("moisture_2", 35, "%")], id="moisture"
    ),
    # binary sensors: 0x15 battery low on, 0x1a door off, 0x21 motion on, 0x2d window on
    pytest.param(
        "40 15 01 1a 00 21 01 2d 01",
        [M("battery_low", 1, None), M("door", 0, None), M("motion", 1, None), M("window", 1, None)],
        id="binary",
    ),
    pytest.param(  # counts: 0x09 uint8 0x60 = 96; 0x3d uint16 0x1234 = 4660; 0x5a int16 0xfffe = -2
        "40 09 60 3d 34 12 5a fe ff",
        [M("count", 96, None), M("count_2", 4660, None), M("count_3", -2, None)],
        id="counts",
    ),
    pytest.param(  # 0x3a button 0x04 long press; 0x3c dimmer rotate left (01) 3 steps -> -3
        "40 3a 04 3c 01 03", [M("button", 4, None), M("dimmer", -3, None)], id="events"
    ),
    pytest.param(  # 0x43 current 0x0d80 = 3456 -> 3.456 A; 0x5d int16 0xf380 = -3200 -> -3.2 A
        "40 43 80 0d 5d 80 f3", [M("current", 3.456, "A"), M("current_2", -3.2, "A")], id="current"
    ),
    pytest.param(  # 0x50 timestamp 0x6553f100 = 1700000000 s
        "40 50 00 f1 53 65", [M("timestamp", 1_700_000_000, "s")], id="timestamp"
    ),
    pytest.param(  # 0x53 text "hi" skipped; then 0x01 battery 0x50 = 80
        "40 01 50 53 02 68 69", [M("battery", 80, "%")], id="text-object-skipped"
    ),
]


@pytest.mark.parametrize(("payload", "expected"), KNOWN)
def test_known_bytes(payload: str, expected: list[M]) -> None:
    assert list(decode_hex(payload)) == expected


def test_metadata_of_plain_packet() -> None:
    decoded = decode_bthome_payload(bytes.fromhex("40 00 09 01 5d"), address=ADDRESS)
    assert (decoded.decoder, decoded.model, decoded.packet_id) == ("bthome", "BTHome v2", 9)
    assert not decoded.encrypted
    assert not decoded.trigger_based
    assert decoded.mac is None
    assert decoded.warnings == ()


def test_trigger_based_flag() -> None:
    # bthome-ble test_sleepy_device: device info 0x44 has bit 2 set.
    assert decode_bthome_payload(bytes.fromhex("44 04 13 8a 01"), address=ADDRESS).trigger_based


def test_mac_included_in_payload() -> None:
    # bthome-ble test_bthome_with_mac: info 0x42 (bit 1), MAC reversed, then pressure 1008.83.
    decoded = decode_bthome_payload(
        bytes.fromhex("42 b2 18 8d 38 c1 a4 04 13 8a 01"), address="00:00:00:00:00:00"
    )
    assert decoded.mac == "A4:C1:38:8D:18:B2"
    assert decoded.measurements == (M("pressure", 1008.83, "hPa"),)


def test_packet_id_only_is_a_valid_empty_packet() -> None:
    decoded = decode_bthome_payload(bytes.fromhex("40 00 09"), address=ADDRESS)
    assert decoded.measurements == ()
    assert decoded.packet_id == 9


def test_unknown_object_stops_parsing_and_keeps_earlier_values() -> None:
    # bthome-ble test_bthome_battery_wrong_object_id_humidity: 0xfe is unknown.
    decoded = decode_bthome_payload(bytes.fromhex("40 01 5d fe 5d 09 03 b7 18"), address=ADDRESS)
    assert decoded.measurements == (M("battery", 93, "%"),)
    assert decoded.warnings == ("unknown object id 0xfe at byte 2: 6 bytes skipped",)


def test_truncated_object_after_values_is_a_warning() -> None:
    decoded = decode_bthome_payload(bytes.fromhex("40 01 5d 02 ca"), address=ADDRESS)
    assert decoded.measurements == (M("battery", 93, "%"),)
    assert decoded.warnings[0].startswith("truncated object 0x02")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("e1 02 00 0c 04 04 13 8a 01", "version 7", id="published-version-7"),
        pytest.param("20 01 61", "version 1", id="version-1"),
        pytest.param("40 fe ca 09", "unknown object id 0xfe", id="published-unknown-first"),
        pytest.param("40 02 ca", "truncated object 0x02", id="truncated-first"),
        pytest.param("40 53 05 68", "truncated object 0x53", id="truncated-text"),
        pytest.param("40 53", "truncated object 0x53", id="text-without-length"),
        pytest.param("42 b2 18 8d", "shorter than its header", id="short-mac"),
    ],
)
def test_bad_packets(payload: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_hex(payload)
    assert info.value.kind == "decode"


def test_from_advert_and_missing_service_data() -> None:
    advert = Advert(ADDRESS, service_data={BTHOME_UUID: bytes.fromhex("40 01 61")})
    assert decode_bthome(advert).measurements == (M("battery", 97, "%"),)
    with pytest.raises(DecodeError) as info:
        decode_bthome(Advert(ADDRESS))
    assert info.value.kind == "unsupported"


# --- encryption -----------------------------------------------------------------------------

# Published in bthome-ble's tests (test_parser_v2.py) with the key and sender above; the
# counters are the ones those tests assert. Plaintexts: decrypted here (40 02 ca 09 03 bf 13 is
# also the plaintext of bthome-ble's encryption example; the temperature 25.06 / humidity 50.55
# of the first vector is asserted by its test_bindkey_correct).
ENCRYPTED = [
    ("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14", 0x33221100, "40 02 ca 09 03 bf 13"),
    ("41 e4 45 f3 c9 96 2b 33 22 11 00 6c 7c 45 19", 1122867, "40 02 ca 09 03 bf 13"),
    ("41 3e 93 2c c7 17 5f 34 22 11 00 55 38 76 af", 1122868, "40 02 ca 09 03 bf 13"),
    ("41 ba 0d b0 7a ee f6 ff ff ff ff 21 fd 46 00", 0xFFFF_FFFF, "40 02 cb 09 03 bf 13"),
    ("41 de 40 b5 0e 67 66 00 00 00 00 d7 cb 95 de", 0, "40 02 cb 09 03 bf 13"),
]


def test_published_encrypted_vector_decodes() -> None:
    decoded = decode_bthome_payload(bytes.fromhex(ENCRYPTED[0][0]), address=KEY_SENDER, bindkey=KEY)
    assert decoded.measurements == (M("temperature", 25.06, "°C"), M("humidity", 50.55, "%"))
    assert decoded.encrypted
    assert decoded.packet_id == 0x33221100  # the counter bytes 00 11 22 33, little-endian


@pytest.mark.parametrize(("sealed", "counter", "plain"), ENCRYPTED)
def test_published_encrypted_vectors_both_ways(sealed: str, counter: int, plain: str) -> None:
    assert decrypt_bthome(bytes.fromhex(sealed), address=KEY_SENDER, bindkey=KEY).hex(" ") == plain
    again = encrypt_bthome(bytes.fromhex(plain), address=KEY_SENDER, bindkey=KEY, counter=counter)
    assert again.hex(" ") == sealed


def test_published_encrypted_vector_with_mac_in_payload() -> None:
    # bthome-ble test_bthome_with_mac_encrypted: info 0x43, the payload MAC makes the nonce.
    sealed = bytes.fromhex("43 a5 80 8f e6 48 54 f1 96 c0 6f fb 49 00 11 22 33 f0 8e cb de")
    decoded = decode_bthome_payload(sealed, address="00:00:00:00:00:00", bindkey=KEY)
    assert decoded.measurements == (M("temperature", 25.06, "°C"), M("humidity", 50.55, "%"))
    assert decoded.mac == KEY_SENDER


def test_bindkey_as_bytes() -> None:
    sealed = bytes.fromhex(ENCRYPTED[0][0])
    decoded = decode_bthome_payload(sealed, address=KEY_SENDER, bindkey=bytes.fromhex(KEY))
    assert decoded.measurements[0] == M("temperature", 25.06, "°C")


@pytest.mark.parametrize(
    ("address", "bindkey", "message"),
    [
        pytest.param(KEY_SENDER, None, "no bindkey", id="missing-key"),
        pytest.param(KEY_SENDER, "814aac74c4f17b6c1581e1ab87816b99", "wrong bindkey", id="wrong"),
        pytest.param("A4:C1:38:8D:18:B2", KEY, "wrong bindkey", id="other-sender"),
        pytest.param(KEY_SENDER, KEY[:-2], "16 bytes", id="short-key"),
        pytest.param(KEY_SENDER, "zz" * 16, "bad bindkey", id="not-hex"),
        pytest.param("5F3A2E1B-UUID-ON-MACOS", KEY, "needs a MAC", id="no-mac"),
    ],
)
def test_decrypt_failures(address: str, bindkey: str | None, message: str) -> None:
    sealed = bytes.fromhex(ENCRYPTED[0][0])
    with pytest.raises(DecodeError, match=message) as info:
        decode_bthome_payload(sealed, address=address, bindkey=bindkey)
    assert info.value.kind == "decrypt"


def test_tampered_ciphertext_fails_the_tag() -> None:
    sealed = bytearray.fromhex(ENCRYPTED[0][0])
    sealed[2] ^= 0x01
    with pytest.raises(DecodeError) as info:
        decode_bthome_payload(bytes(sealed), address=KEY_SENDER, bindkey=KEY)
    assert info.value.kind == "decrypt"


def test_plain_packet_refused_when_a_bindkey_is_configured() -> None:
    with pytest.raises(DecodeError, match="plain BTHome packet") as info:
        decode_bthome_payload(bytes.fromhex("40 04 13 8a 01"), address=KEY_SENDER, bindkey=KEY)
    assert info.value.kind == "decrypt"


def test_encrypted_packet_too_short() -> None:
    # bthome-ble test_too_short_encryption_advertisement
    with pytest.raises(DecodeError, match="too short") as info:
        decode_bthome_payload(
            bytes.fromhex("41 ba 0d b0 7a ee f6 00"), address=KEY_SENDER, bindkey=KEY
        )
    assert info.value.kind == "decode"


# --- encoding -------------------------------------------------------------------------------


def test_encode_reproduces_the_mandatory_vector() -> None:
    measurements = [M("battery", 97, "%"), M("temperature", 25.06, "°C"), M("humidity", 50.55, "%")]
    assert encode_bthome(measurements).hex(" ") == "40 01 61 02 ca 09 03 bf 13"


def test_encode_sorts_objects_and_adds_packet_id_flags_and_mac() -> None:
    payload = encode_bthome(
        [M("humidity", 50.55, "%"), M("battery", 97, "%")],
        packet_id=7,
        trigger_based=True,
        mac="A4:C1:38:8D:18:B2",
    )
    # 0x40 | 0x04 trigger | 0x02 MAC = 0x46, MAC reversed, then objects 0x00, 0x01, 0x03.
    assert payload.hex(" ") == "46 b2 18 8d 38 c1 a4 00 07 01 61 03 bf 13"


@pytest.mark.parametrize(
    ("measurement", "object_bytes"),
    [
        pytest.param(M("temperature", 25.06, "°C"), "02 ca 09", id="0.01-fits"),
        pytest.param(M("temperature", 400.5, "°C"), "45 a5 0f", id="too-big-for-0x02"),
        pytest.param(M("voltage", 3.21, "V"), "0c 8a 0c", id="mV"),
        pytest.param(M("voltage", 232.2, "V"), "4a 12 09", id="0.1V"),
        pytest.param(M("count", 300, None), "3d 2c 01", id="count-uint16"),
        pytest.param(M("count", -2, None), "59 fe", id="count-int8"),
        pytest.param(M("volume", 1.234, "L"), "4e d2 04 00 00", id="exact-beats-first"),
        pytest.param(M("dimmer", 3, None), "3c 02 03", id="dimmer-right"),
        pytest.param(M("temperature_2", 1.5, "°C"), "02 96 00", id="suffix-dropped"),
    ],
)
def test_encode_picks_the_object(measurement: M, object_bytes: str) -> None:
    assert encode_bthome([measurement]).hex(" ") == "40 " + object_bytes


@pytest.mark.parametrize(
    "measurement",
    [
        M("temperature", 25.0, "K"),
        M("frobnication", 1, None),
        M("battery", 300, "%"),
        M("battery", -1, "%"),
        M("temperature", float("nan"), "°C"),
        M("temperature", float("inf"), "°C"),
    ],
)
def test_encode_rejects(measurement: M) -> None:
    with pytest.raises(ValueError):
        encode_bthome([measurement])


def test_encrypt_rejects_bad_input() -> None:
    plain = encode_bthome([M("battery", 97, "%")])
    with pytest.raises(ValueError, match="uint32"):
        encrypt_bthome(plain, address=KEY_SENDER, bindkey=KEY, counter=-1)
    sealed = encrypt_bthome(plain, address=KEY_SENDER, bindkey=KEY, counter=1)
    with pytest.raises(ValueError, match="plain"):
        encrypt_bthome(sealed, address=KEY_SENDER, bindkey=KEY, counter=2)
    with pytest.raises(ValueError, match="MAC"):
        encrypt_bthome(plain, address="not-a-mac", bindkey=KEY, counter=2)
