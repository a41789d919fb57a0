"""Xiaomi MiBeacon (service data 0xFE95): published frames, encryption, bad frames.

Vectors marked "xiaomi-ble" are the frames, addresses and keys of the Bluetooth-Devices
xiaomi-ble project's tests/test_parser.py (Apache-2.0; the test named in each comment);
"ble_monitor" marks the encrypted example of custom-components/ble_monitor's
docs/developer_docs/protocol.md. The expected values are those tests' values, except where a
comment says why ours differ. Hand-built frames follow Xiaomi's MiBeacon v4/v5 and object
documents (InfoMijiaBLE/ in pvvx/ATC_MiThermometer), the computation in the comment.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    MIBEACON_MODELS,
    XIAOMI_UUID,
    Advert,
    decode,
    decode_xiaomi,
    decode_xiaomi_payload,
    encode_mibeacon,
    identify,
    parse_mibeacon_key,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

T, H, B = "temperature", "humidity", "battery"


def decoded(frame: str, address: str, bindkey: str | None = None) -> tuple[M, ...]:
    return decode_xiaomi_payload(bytes.fromhex(frame), address=address,
                                 bindkey=bindkey).measurements


# (test name in xiaomi-ble, frame, address, bindkey, model, measurements)
PUBLISHED = [
    pytest.param(  # test_Xiaomi_LYWSDCGQ: v2, 0x100d 0x00b4 = 18.0 °C, 0x0295 = 66.1 %; 0x100a 59 %
        "50 20 aa 01 a3 bf 2e 3b 34 2d 58 0d 10 04 b4 00 95 02 0a 10 01 3b",
        "58:2D:34:3B:2E:BF", None, "LYWSDCGQ",
        [M(T, 18.0, "°C"), M(H, 66.1, "%"), M(B, 59, "%")], id="LYWSDCGQ-v2",
    ),
    pytest.param(  # test_Xiaomi_LYWSD02: v3 plain, 0x100d 0x0110 = 27.2 °C, 0x01ea = 49.0 %
        "50 30 5b 04 03 4c 94 b4 38 c1 a4 0d 10 04 10 01 ea 01",
        "A4:C1:38:B4:94:4C", None, "LYWSD02", [M(T, 27.2, "°C"), M(H, 49.0, "%")], id="LYWSD02",
    ),
    pytest.param(  # test_Xiaomi_LYWSD03MMC (without encryption), same objects
        "50 30 5b 05 03 4c 94 b4 38 c1 a4 0d 10 04 10 01 ea 01",
        "A4:C1:38:B4:94:4C", None, "LYWSD03MMC", [M(T, 27.2, "°C"), M(H, 49.0, "%")],
        id="LYWSD03MMC-plain",
    ),
    pytest.param(  # test_Xiaomi_LYWSD03MMC_encrypted: v5, key below. xiaomi-ble truncates this
        # model's humidity to whole percent (46); we report the object's 0.1 % value.
        "58 58 5b 05 50 f4 83 02 38 c1 a4 95 ef 58 76 3c 26 00 00 97 e2 ab b5",
        "A4:C1:38:02:83:F4", "e9ea895fac7cca6d30532432a516f3a8", "LYWSD03MMC",
        [M(H, 46.7, "%")], id="LYWSD03MMC-encrypted",
    ),
    pytest.param(  # test_Xiaomi_CGG1 (CGG1-ENCRYPTED, v5)
        "58 58 48 0b 68 5f 12 34 2d 58 5a 0b 18 41 e2 aa 00 0e 00 a4 96 4f b5",
        "5A:58:2D:34:12:5F", "814aac74c4f17b6c1581e1ab87816b99", "CGG1-ENCRYPTED",
        [M(H, 59.6, "%")], id="CGG1-encrypted",
    ),
    pytest.param(  # test_Xiaomi_CGDK2
        "58 58 6f 06 07 89 20 12 34 2d 58 5f 17 6d d5 4f 02 00 00 2f a4 53 fa",
        "58:2D:34:12:20:89", "a3bfe9853dd85a620debe3620caaa351", "CGDK2",
        [M(T, 22.6, "°C")], id="CGDK2-encrypted",
    ),
    pytest.param(  # test_Xiaomi_CGDK3: no MAC in the frame (the address is used), float 0x4801
        "48 58 59 4f ef 54 6f 0e 74 50 72 93 21 01 00 38 d7 43 33",
        "58:2D:34:87:94:0C", "872ea1bb02ba9713e885cb054c537368", "CGDK3",
        [M(T, 23.8, "°C")], id="CGDK3-float",
    ),
    pytest.param(  # test_Xiaomi_LYWSD02MMC
        "58 58 e4 16 2c 84 53 56 38 c1 a4 2b 6e f2 e9 12 00 00 6c 88 4d 9e",
        "A4:C1:38:56:53:84", "a115210eed7a88e50ad52662e732a9fb", "LYWSD02MMC",
        [M(H, 58, "%")], id="LYWSD02MMC",
    ),
    pytest.param(  # test_Xiaomi_LYWSD02MMC_v2_temperature (product id 0x2542, float object)
        "48 58 42 25 29 20 2d 8c 7a 76 b7 56 a8 2a 00 78 b8 22 4e",
        "A4:C1:38:0E:FD:78", "19b1c678ab0a8bc3dc77765f059188d4", "LYWSD02MMC",
        [M(T, 26.1, "°C")], id="LYWSD02MMC-v2",
    ),
    pytest.param(  # test_Xiaomi_XMWSDJ04MMC
        "48 59 03 12 a4 1b 77 6e 7c 96 ad d7 00 00 00 f2 bf 54 5b",
        "2C:11:65:25:70:04", "b2cf9a553d53571b5657defd582d676e", "XMWSDJ04MMC",
        [M(H, 45.0, "%")], id="XMWSDJ04MMC",
    ),
    pytest.param(  # test_Xiaomi_MJWSD06MMC_temperature
        "48 59 b5 55 3a 86 99 bd a0 53 44 8f 12 00 00 5b 04 6d 6a",
        "A4:C1:38:80:15:07", "4d8f1373fb4d3bab557d0ebd1c78f8c4", "MJWSD06MMC",
        [M(T, 25.2, "°C")], id="MJWSD06MMC-temperature",
    ),
    pytest.param(  # test_Xiaomi_MJWSD06MMC_humidity
        "58 59 b5 55 34 07 15 80 38 c1 a4 bc c7 32 98 0e 00 00 66 96 0f 10",
        "A4:C1:38:80:15:07", "4d8f1373fb4d3bab557d0ebd1c78f8c4", "MJWSD06MMC",
        [M(H, 39, "%")], id="MJWSD06MMC-humidity",
    ),
    pytest.param(  # test_Xiaomi_ESM787_temperature_humidity
        "50 59 db 78 0d f4 f8 02 38 c1 a4 0d 10 04 eb 00 e7 01",
        "A4:C1:38:02:F8:F4", None, "ESM787", [M(T, 23.5, "°C"), M(H, 48.7, "%")], id="ESM787",
    ),
    pytest.param(  # test_Xiaomi_HHCCJCY01: MiFlora, 0x1004 0x00c4 = 19.6 °C
        "71 20 98 00 12 f3 4f 6b 8d 7c c4 0d 04 10 02 c4 00",
        "C4:7C:8D:6B:4F:F3", None, "HHCCJCY01", [M(T, 19.6, "°C")], id="HHCCJCY01",
    ),
    pytest.param(  # test_Xiaomi_GCLS002: 0x013c = 31.6 °C
        "71 20 bc 03 cd 3e 59 6d 8d 7c c4 0d 04 10 02 3c 01",
        "C4:7C:8D:6D:59:3E", None, "GCLS002", [M(T, 31.6, "°C")], id="GCLS002",
    ),
    pytest.param(  # test_Xiaomi_HHCCPOT002: 0x1008 moisture 64 %, 0x1009 conductivity 599 µS/cm
        "71 20 5d 01 01 5d 01 00 8d 7c c4 0d 08 10 01 40 09 10 02 57 02",
        "C4:7C:8D:00:01:5D", None, "HHCCPOT002",
        [M("moisture", 64, "%"), M("conductivity", 599, "µS/cm")], id="HHCCPOT002",
    ),
    pytest.param(  # test_Xiaomi_JQJCY01YM1 (synthesized there): 0x1010 125 -> 1.25 mg/m³
        "50 40 df 02 01 df 02 00 8d 7c c4 10 10 02 7d 00",
        "C4:7C:8D:00:02:DF", None, "JQJCY01YM", [M("formaldehyde", 1.25, "mg/m³")],
        id="JQJCY01YM",
    ),
    pytest.param(  # test_Xiaomi_JTYJGD03MI_smoke: 0x1015 smoke alarm
        "58 59 97 09 66 bc 9c e3 44 ef 54 01 08 12 05 00 00 00 71 5e be 90",
        "54:EF:44:E3:9C:BC", "5b51a7c91cde6707c9ef18dfda143a58", "JTYJGD03MI",
        [M("smoke", 1, None)], id="JTYJGD03MI",
    ),
    pytest.param(  # test_Xiaomi_MCCGQ02HL: 0x1019 door left open -> opening
        "58 58 8b 09 a3 ae 21 81 ec aa e4 0e 2c 55 3c 04 00 00 d2 8a 50 0c",
        "E4:AA:EC:81:21:AE", "017e52d2684779298709b117c0a75a7b", "MCCGQ02HL",
        [M("opening", 1, None)], id="MCCGQ02HL",
    ),
    pytest.param(  # test_Xiaomi_CGH1: 0x1019 0 = open
        "50 40 d6 03 01 d6 03 0a 38 c1 a4 19 10 01 00",
        "A4:C1:38:0A:03:D6", None, "CGH1", [M("opening", 1, None)], id="CGH1",
    ),
    pytest.param(  # test_Xiaomi_RTCGQ02LM_light_and_motion: 0x000f, 0x000100 = 256 lx
        "58 59 8d 0a 8c 77 8e 20 3c c2 18 5a 27 36 28 ec 32 06 00 00 c4 26 40 15",
        "18:C2:3C:20:8E:77", "4960bb9f8711b4ffd7df1756d11427ae", "RTCGQ02LM",
        [M("motion", 1, None), M("illuminance", 256, "lx")], id="RTCGQ02LM",
    ),
    pytest.param(  # test_Xiaomi_CGPR1: 0x000f with 100 lx
        "50 40 83 0a 01 83 00 0a 38 c1 a4 0f 00 03 64 00 00",
        "A4:C1:38:0A:00:83", None, "CGPR1", [M("motion", 1, None), M("illuminance", 100, "lx")],
        id="CGPR1",
    ),
    pytest.param(  # test_Xiaomi_HS1BB_battery: MIoT 0x4803 battery 100 %
        "58 59 eb 2a 9e e9 8e 05 38 c1 a4 d0 7a d3 e3 38 00 00 33 63 5d 10",
        "A4:C1:38:05:8E:E9", "7475a4a77584401780ffc3ee62dd353c", "HS1BB(MI)",
        [M(B, 100, "%")], id="HS1BB-battery",
    ),
    pytest.param(  # test_Xiaomi_HS1BB_no_motion: MIoT 0x4818, 60 s without motion
        "58 59 eb 2a c1 e9 8e 05 38 c1 a4 07 59 53 0f 8d 38 00 00 b7 7a 70 f8",
        "A4:C1:38:05:8E:E9", "7475a4a77584401780ffc3ee62dd353c", "HS1BB(MI)",
        [M("motion", 0, None), M("no_motion_time", 60, "s")], id="HS1BB-no-motion",
    ),
    pytest.param(  # test_Xiaomi_KS2_temperature: float 0x4801
        "48 59 0b 52 b3 c1 b8 5c 50 f3 5c 57 09 00 00 4a 9e d6 b8",
        "A4:C1:38:A1:FE:E6", "8bdff7d0f70fa7f5c68f42157b5fd65b", "KS2BB", [M(T, 26.2, "°C")],
        id="KS2BB",
    ),
    pytest.param(  # test_Xiaomi_WX08ZM: 0x1013 consumable 0x5a = 90 %
        "50 40 0a 04 01 0a 04 00 8d 7c c4 13 10 01 5a", "C4:7C:8D:00:04:0A", None, "WX08ZM",
        [M("consumable", 90, "%")], id="WX08ZM",
    ),
    pytest.param(  # test_Xiaomi_SJWS01LM: a key event (its button)
        "50 40 63 08 01 01 63 08 38 c1 a4 01 10 03 00 00 00", "A4:C1:38:08:63:01", None,
        "SJWS01LM", [M("button", 0, None), M("button_id", 0, None)], id="SJWS01LM",
    ),
    pytest.param(  # test_Xiaomi_MJYD02YL: 0x000f, light level 100
        "50 40 f6 07 01 01 f6 07 38 c1 a4 0f 00 03 64 00 00", "A4:C1:38:07:F6:01", None,
        "MJYD02YL", [M("motion", 1, None), M("illuminance", 100, "lx")], id="MJYD02YL",
    ),
    pytest.param(  # test_Xiaomi_MUE4094RT: v3 without MAC, 0x0003 "near"
        "40 30 dd 03 24 03 00 01 01", "DE:70:E8:B2:39:0C", None, "MUE4094RT",
        [M("motion", 1, None)], id="MUE4094RT",
    ),
    pytest.param(  # test_Xiaomi_YLAI003
        "50 40 bf 07 01 01 bf 07 38 c1 a4 01 10 03 00 00 00", "A4:C1:38:07:BF:01", None,
        "YLAI003", [M("button", 0, None), M("button_id", 0, None)], id="YLAI003",
    ),
    pytest.param(  # test_Xiaomi_YLYK01YL
        "50 30 53 01 3f 74 50 e9 41 24 f8 01 10 03 00 00 00", "F8:24:41:E9:50:74", None,
        "YLYK01YL", [M("button", 0, None), M("button_id", 0, None)], id="YLYK01YL",
    ),
    pytest.param(  # test_Xiaomi_MS1BB_MI_obj4804: MIoT door state 1 = open
        "58 59 89 18 9a 67 e5 66 38 c1 a4 9d d9 7a f3 26 00 00 c8 a6 0b d5",
        "A4:C1:38:66:E5:67", "0fdcc30fe9289254876b5ef7c11ef1f0", "MS1BB(MI)",
        [M("opening", 1, None)], id="MS1BB",
    ),
    pytest.param(  # test_Xiaomi_XMPIRO2SXS: MIoT 0x4a08 motion with 51 lx
        "48 59 31 35 0b 64 79 91 17 33 1e f4 02 00 00 c5 d2 f6 ac",
        "DC:8E:95:2D:EA:43", "685d647dc5e7bc9bcfcf5a1357bd2114", "XMPIRO2SXS",
        [M("motion", 1, None), M("illuminance", 51, "lx")], id="XMPIRO2SXS",
    ),
    pytest.param(  # test_Xiaomi_XMOSB01XS_ILLUMINANCE: float 0x4805, 38 lx
        "48 59 83 46 0d dc 21 3c e9 81 da 7a e2 02 00 44 41 f8 8c",
        "0C:43:14:A1:41:1E", "0a4552cb19a639b72b8ed09bde6d5bfa", "XMOSB01XS",
        [M("illuminance", 38, "lx")], id="XMOSB01XS",
    ),
    pytest.param(  # test_Xiaomi_ES3_illuminance: 173 lx
        "48 59 fb 50 d9 86 d2 7e 8f 53 13 e9 00 00 00 30 ad 6d a8",
        "A4:C1:38:C7:C3:76", "b26295a7a08fbac306c8706ade7f0fe4", "ES3",
        [M("illuminance", 173, "lx")], id="ES3",
    ),
    pytest.param(  # test_Xiaomi_YLKG07YL_press: v3 LEGACY encryption, 24-hex-digit key;
        # 0x1001 key event: index 0x0100, type 3
        "58 30 b6 03 d2 8b 98 c5 41 24 f8 c3 49 14 76 75 7e 00 00 00 99",
        "F8:24:41:C5:98:8B", "b853075158487ca39a5b5ea9", "YLKG07YL/YLKG08YL",
        [M("button", 3, None), M("button_id", 256, None)], id="YLKG07YL-legacy",
    ),
    pytest.param(  # ble_monitor protocol.md, "Encrypted advertisements": decrypts to
        # 0f 00 03 00 00 00 (motion, 0 lx)
        "58 59 8d 0a 17 0f c4 e0 44 ef 54 7c c2 7a 5c 03 a1 00 00 00 79 0d f2 58",
        "54:EF:44:E0:C4:0F", "FDD8CE9C08AE7533A79BDAF0BB755E96", "RTCGQ02LM",
        [M("motion", 1, None), M("illuminance", 0, "lx")], id="ble_monitor-encrypted",
    ),
]


@pytest.mark.parametrize(("frame", "address", "bindkey", "model", "expected"), PUBLISHED)
def test_published_frames(
    frame: str, address: str, bindkey: str | None, model: str, expected: list[M]
) -> None:
    result = decode_xiaomi_payload(bytes.fromhex(frame), address=address, bindkey=bindkey)
    assert list(result.measurements) == expected
    assert result.model == model
    assert result.encrypted == (bindkey is not None)
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("product_id", "model"),
    [  # test_Xiaomi_CGC1 / _CGD1 / _MHO_C303 / _MHO_C401: the LYWSD02 frame, another id
        ("3c 0c", "CGC1"), ("76 05", "CGD1"), ("d3 06", "MHO-C303"), ("87 03", "MHO-C401"),
    ],
)
def test_models_sharing_a_frame(product_id: str, model: str) -> None:
    frame = f"50 30 {product_id} 03 4c 94 b4 38 c1 a4 0d 10 04 10 01 ea 01"
    result = decode_xiaomi_payload(bytes.fromhex(frame), address="A4:C1:38:B4:94:4C")
    assert (result.model, result.measurements) == (model, (M(T, 27.2, "°C"), M(H, 49.0, "%")))


def test_metadata() -> None:
    result = decode_xiaomi_payload(
        bytes.fromhex("58 58 5b 05 50 f4 83 02 38 c1 a4 95 ef 58 76 3c 26 00 00 97 e2 ab b5"),
        address="A4:C1:38:02:83:F4", bindkey="e9ea895fac7cca6d30532432a516f3a8")
    assert (result.decoder, result.manufacturer, result.mac) == (
        "xiaomi", "Xiaomi", "A4:C1:38:02:83:F4")
    assert result.packet_id == 0x2650  # frame counter 0x50, ext counter 26 00 00
    assert result.identity is not None and result.identity.model == "LYWSD03MMC"


def test_qingping_made_models_name_their_maker() -> None:
    assert MIBEACON_MODELS[0x0347].manufacturer == "Qingping"  # CGG1
    assert MIBEACON_MODELS[0x055B].manufacturer == "Xiaomi"  # LYWSD03MMC


def test_frame_without_objects_names_the_model() -> None:
    # test_Xiaomi_ESM787_discovery: frame control 0x5910 (MAC, no objects)
    result = decode_xiaomi_payload(bytes.fromhex("10 59 db 78 0d f4 f8 02 38 c1 a4"),
                                   address="A4:C1:38:02:F8:F4")
    assert (result.measurements, result.model, result.manufacturer) == ((), "ESM787", "Yanmi")


def test_unknown_product_id_still_decodes() -> None:
    # test_Xiaomi_unknown_device_logs_product_id: the LYWSDCGQ frame with product id 0xffff
    result = decode_xiaomi_payload(
        bytes.fromhex("50 20 ff ff a3 bf 2e 3b 34 2d 58 0d 10 04 b4 00 95 02 0a 10 01 3b"),
        address="58:2D:34:3B:2E:BF")
    assert result.model == "MiBeacon 0xFFFF"
    assert result.measurements[0] == M(T, 18.0, "°C")


def test_negative_temperature() -> None:
    # Hand-built v3 frame, LYWSD03MMC: 0x1004 temperature 0xff38 = -200 -> -20.0 °C
    result = decoded("50 30 5b 05 07 4c 94 b4 38 c1 a4 04 10 02 38 ff", "A4:C1:38:B4:94:4C")
    assert result == (M(T, -20.0, "°C"),)
    # the same temperature in a temperature+humidity object: 0xff38, then 0x01ea = 49.0 %
    result = decoded("50 30 5b 05 08 4c 94 b4 38 c1 a4 0d 10 04 38 ff ea 01",
                     "A4:C1:38:B4:94:4C")
    assert result == (M(T, -20.0, "°C"), M(H, 49.0, "%"))


def test_encrypted_negative_temperature_round_trip() -> None:
    key = "e9ea895fac7cca6d30532432a516f3a8"
    frame = encode_mibeacon([M(T, -12.3, "°C")], device_type=0x055B,
                            mac="A4:C1:38:02:83:F4", counter=0x01020304, bindkey=key)
    result = decode_xiaomi_payload(frame, address="00:00:00:00:00:00", bindkey=key)
    assert result.measurements == (M(T, -12.3, "°C"),)
    assert result.packet_id == 0x01020304


def test_capability_with_io_capability_is_skipped() -> None:
    # Hand-built v5 frame: control 0x5870 (MAC, capability, objects), capability 0x28
    # (bit 5: 2 bytes of I/O capability follow: 00 00), then 0x100a battery 0x55 = 85 %
    frame = "70 58 5b 05 09 4c 94 b4 38 c1 a4 28 00 00 0a 10 01 55"
    assert decoded(frame, "A4:C1:38:B4:94:4C") == (M(B, 85, "%"),)


def test_unknown_object_is_skipped_with_a_warning() -> None:
    # Hand-built: 0x2000 (a vendor object) then 0x100a battery 99 %
    result = decode_xiaomi_payload(
        bytes.fromhex("50 30 5b 05 0a 4c 94 b4 38 c1 a4 00 20 01 05 0a 10 01 63"),
        address="A4:C1:38:B4:94:4C")
    assert result.measurements == (M(B, 99, "%"),)
    assert result.warnings == ("unknown MiBeacon object 0x2000 skipped",)


# --- keys -----------------------------------------------------------------------------------

CGG1_FRAME = "58 58 48 0b 68 5f 12 34 2d 58 5a 0b 18 41 e2 aa 00 0e 00 a4 96 4f b5"


def test_encrypted_frame_without_key() -> None:
    # test_encryption_needs_v5: encrypted, and no key given
    with pytest.raises(DecodeError, match="no bindkey") as info:
        decoded(CGG1_FRAME, "5A:58:2D:34:12:5F")
    assert info.value.kind == "decrypt"


def test_wrong_v5_key() -> None:
    # test_bindkey_wrong: RTCGQ02LM frame with a key that is not its own
    frame = "58 59 8d 0a 17 0f c4 e0 44 ef 54 7c c2 7a 5c 03 a1 00 00 00 79 0d f2 58"
    with pytest.raises(DecodeError, match="wrong bindkey") as info:
        decoded(frame, "54:EF:44:E0:C4:0F", "814aac74c4f17b6c1581e1ab87816b99")
    assert info.value.kind == "decrypt"


def test_wrong_legacy_key() -> None:
    # test_bindkey_wrong_legacy: YLKG07YL frame, key with one digit changed. No tag: the
    # garbage objects give it away.
    frame = "58 30 b6 03 d2 8b 98 c5 41 24 f8 c3 49 14 76 75 7e 00 00 00 99"
    with pytest.raises(DecodeError, match="wrong bindkey") as info:
        decoded(frame, "F8:24:41:C5:98:8B", "b853075158487aa39a5b5ea9")
    assert info.value.kind == "decrypt"


@pytest.mark.parametrize(
    ("frame", "key", "message"),
    [
        pytest.param(CGG1_FRAME, "b853075158487ca39a5b5ea9", "32-hex-digit", id="short-key-v5"),
        pytest.param("58 30 b6 03 d2 8b 98 c5 41 24 f8 c3 49 14 76 75 7e 00 00 00 99",
                     "814aac74c4f17b6c1581e1ab87816b99", "24-hex-digit", id="long-key-legacy"),
        pytest.param(CGG1_FRAME, "00112233", "bad bindkey", id="bad-key"),
        pytest.param("50 30 5b 05 03 4c 94 b4 38 c1 a4 0d 10 04 10 01 ea 01",
                     "e9ea895fac7cca6d30532432a516f3a8", "plain MiBeacon frame",
                     id="downgrade-to-plain"),
    ],
)
def test_key_problems(frame: str, key: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decoded(frame, "5A:58:2D:34:12:5F", key)
    assert info.value.kind == "decrypt"


def test_encrypted_frame_without_mac_needs_a_real_address() -> None:
    frame = "48 58 59 4f ef 54 6f 0e 74 50 72 93 21 01 00 38 d7 43 33"  # CGDK3, no MAC
    with pytest.raises(DecodeError, match="needs the device MAC") as info:
        decoded(frame, "61DE521B-F0BF-9F44-64D4-75BBE1738105", "872ea1bb02ba9713e885cb054c537368")
    assert info.value.kind == "decrypt"


def test_legacy_key_in_expanded_form_is_accepted() -> None:
    # the 24-digit key with 8d3d3c97 inserted after its sixth byte
    frame = "58 30 b6 03 d2 8b 98 c5 41 24 f8 c3 49 14 76 75 7e 00 00 00 99"
    expanded = "b85307515848" + "8d3d3c97" + "7ca39a5b5ea9"
    assert decoded(frame, "F8:24:41:C5:98:8B", expanded)[0] == M("button", 3, None)


def test_parse_mibeacon_key() -> None:
    assert len(parse_mibeacon_key("b853075158487ca39a5b5ea9")) == 12
    assert len(parse_mibeacon_key(bytes(16))) == 16
    with pytest.raises(ValueError, match="16 bytes"):
        parse_mibeacon_key("0011")


# --- bad frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        pytest.param("", "shorter than its header", id="empty"),
        pytest.param("50 30 5b 05", "shorter than its header", id="four-bytes"),
        pytest.param("50 10 5b 05 03", "version 1", id="version-1"),
        pytest.param("50 60 5b 05 03", "version 6", id="version-6"),
        pytest.param("50 30 5b 05 03 4c 94", "shorter than its header", id="short-mac"),
        pytest.param("70 30 5b 05 03 4c 94 b4 38 c1 a4", "shorter than its header",
                     id="missing-capability"),
        pytest.param("50 30 5b 05 03 4c 94 b4 38 c1 a4 0d 10", "truncated", id="short-object"),
        pytest.param("50 30 5b 05 03 4c 94 b4 38 c1 a4 0d 10 04 10 01", "runs past",
                     id="object-past-end"),
        pytest.param("50 30 5b 05 03 4c 94 b4 38 c1 a4 0d 10 02 10 01", "expected 4",
                     id="wrong-object-length"),
        pytest.param("58 58 5b 05 50 f4 83 02 38 c1 a4 97 e2 ab", "too short",
                     id="encrypted-too-short"),
    ],
)
def test_bad_frames(frame: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decoded(frame, "A4:C1:38:B4:94:4C", "e9ea895fac7cca6d30532432a516f3a8"
                if frame.startswith("58 58") else None)
    assert info.value.kind == "decode"


def test_mesh_frames_are_not_ours() -> None:
    with pytest.raises(DecodeError) as info:
        decoded("d0 30 5b 05 03", "A4:C1:38:B4:94:4C")
    assert info.value.kind == "unsupported"


# --- adverts, identity, round trips ---------------------------------------------------------


def test_auto_decoding_and_identity_of_an_encrypted_advert() -> None:
    advert = Advert("5A:58:2D:34:12:5F", service_data={XIAOMI_UUID: bytes.fromhex(CGG1_FRAME)})
    identity = identify(advert)
    assert identity is not None
    assert (identity.manufacturer, identity.model) == ("Qingping", "CGG1-ENCRYPTED")
    assert decode(advert, bindkey="814aac74c4f17b6c1581e1ab87816b99").measurements == (
        M(H, 59.6, "%"),)
    with pytest.raises(DecodeError):
        decode_xiaomi(Advert("5A:58:2D:34:12:5F"))


@pytest.mark.parametrize(
    ("bindkey", "version"),
    [(None, 5), ("e9ea895fac7cca6d30532432a516f3a8", 5), ("e9ea895fac7cca6d30532432a516f3a8", 4),
     ("b853075158487ca39a5b5ea9", 3), ("b853075158487ca39a5b5ea9", 2)],
)
def test_encode_round_trip(bindkey: str | None, version: int) -> None:
    values = [M(T, 21.5, "°C"), M(H, 48.3, "%"), M(B, 87, "%"), M("illuminance", 1234, "lx"),
              M("moisture", 33, "%"), M("conductivity", 456, "µS/cm"),
              M("formaldehyde", 0.08, "mg/m³")]
    frame = encode_mibeacon(values, device_type=0x0098, mac="C4:7C:8D:6A:3E:7A",
                            counter=300, bindkey=bindkey, version=version)
    result = decode_xiaomi_payload(frame, address="C4:7C:8D:6A:3E:7A", bindkey=bindkey)
    assert list(result.measurements) == values
    assert (result.model, result.mac, result.encrypted) == (
        "HHCCJCY01", "C4:7C:8D:6A:3E:7A", bindkey is not None)


def test_encode_errors() -> None:
    with pytest.raises(ValueError, match="no MiBeacon object"):
        encode_mibeacon([M("pm25", 1, "µg/m³")], device_type=1, mac="A4:C1:38:00:00:01",
                        counter=0)
    with pytest.raises(ValueError, match="does not fit"):
        encode_mibeacon([M(B, 300, "%")], device_type=1, mac="A4:C1:38:00:00:01", counter=0)
    with pytest.raises(ValueError, match="v4/v5"):
        encode_mibeacon([M(B, 3, "%")], device_type=1, mac="A4:C1:38:00:00:01", counter=0,
                        bindkey=bytes(16), version=3)
    with pytest.raises(ValueError, match="v2/v3"):
        encode_mibeacon([M(B, 3, "%")], device_type=1, mac="A4:C1:38:00:00:01", counter=0,
                        bindkey=bytes(12), version=5)
