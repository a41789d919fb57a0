"""Property tests: arbitrary bytes raise nothing but DecodeError; encoders round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.decoders import (
    ATC_UUID,
    BTHOME_UUID,
    RUUVI_COMPANY_ID,
    Advert,
    decode,
    decode_atc_payload,
    decode_bthome_payload,
    decode_ruuvi_payload,
    encode_bthome,
    encode_pvvx,
    encode_ruuvi,
    encrypt_bthome,
    match_decoder,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ADDRESS = "A4:C1:38:8D:18:B2"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
FUZZ = settings(max_examples=300, deadline=None)

keys = st.none() | st.binary(min_size=16, max_size=16) | st.text(max_size=40)
addresses = st.sampled_from([ADDRESS, "00:00:00:00:00:00", "not-a-mac", ""])
ruuvi_like = st.binary(max_size=30) | st.binary(min_size=23, max_size=23).map(lambda b: b"\x05" + b)
bthome_like = st.binary(max_size=40) | st.binary(max_size=30).map(lambda b: b"\x40" + b)
pvvx_like = st.binary(min_size=13, max_size=13) | st.binary(min_size=15, max_size=15)


def decode_quietly(
    advert: Advert, decoder: str = "auto", bindkey: bytes | str | None = None
) -> None:
    kind = None
    try:
        decoded = decode(advert, decoder, bindkey)
    except DecodeError as exc:
        kind = exc.kind
    else:
        assert all(isinstance(m.value, float) for m in decoded.measurements)
    assert kind in {None, "decode", "decrypt", "unsupported"}


@FUZZ
@given(payload=bthome_like, bindkey=keys, address=addresses)
def test_bthome_bytes_raise_only_decode_error(
    payload: bytes, bindkey: bytes | str | None, address: str
) -> None:
    decode_quietly(Advert(address, service_data={BTHOME_UUID: payload}), "bthome", bindkey)


@FUZZ
@given(body=st.binary(max_size=30), counter=st.binary(min_size=4, max_size=4))
def test_encrypted_bthome_garbage_fails_the_tag(body: bytes, counter: bytes) -> None:
    payload = b"\x41" + body + counter + b"\x00\x00\x00\x00"
    decode_quietly(Advert(ADDRESS, service_data={BTHOME_UUID: payload}), "bthome", KEY)


@FUZZ
@given(payload=ruuvi_like)
def test_ruuvi_bytes_raise_only_decode_error(payload: bytes) -> None:
    decode_quietly(Advert(ADDRESS, manufacturer_data={RUUVI_COMPANY_ID: payload}))


@FUZZ
@given(payload=st.binary(max_size=20) | pvvx_like)
def test_atc_bytes_raise_only_decode_error(payload: bytes) -> None:
    decode_quietly(Advert(ADDRESS, service_data={ATC_UUID: payload}))


@FUZZ
@given(
    service=st.dictionaries(
        st.sampled_from([BTHOME_UUID, ATC_UUID, "0000fe95-0000-1000-8000-00805f9b34fb"]),
        st.binary(max_size=30),
    ),
    manufacturer=st.dictionaries(
        st.sampled_from([RUUVI_COMPANY_ID, 0x004C]), st.binary(max_size=30)
    ),
    decoder=st.sampled_from(["auto", "bthome", "ruuvi", "atc"]),
    bindkey=keys,
)
def test_any_advert_raises_only_decode_error(
    service: dict[str, bytes],
    manufacturer: dict[int, bytes],
    decoder: str,
    bindkey: bytes | str | None,
) -> None:
    advert = Advert(ADDRESS, None, -70, service, manufacturer)
    assert match_decoder(advert) in {None, "bthome", "ruuvi", "atc"}
    decode_quietly(advert, decoder, bindkey)


# --- round trips on each format's grid ------------------------------------------------------

hundredths = st.integers(-32767, 32767).map(lambda r: r / 100)


@FUZZ
@given(
    temperature=hundredths,
    humidity=st.integers(0, 10000).map(lambda r: r / 100),
    battery=st.integers(0, 100).map(float),
    pressure=st.integers(0, 0xFFFFFF).map(lambda r: r / 100),
    packet_id=st.integers(0, 255),
    counter=st.none() | st.integers(0, 0xFFFF_FFFF),
)
def test_bthome_round_trip(
    temperature: float,
    humidity: float,
    battery: float,
    pressure: float,
    packet_id: int,
    counter: int | None,
) -> None:
    measurements = (
        M("battery", battery, "%"),
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("pressure", pressure, "hPa"),
    )
    payload = encode_bthome(measurements, packet_id=packet_id)
    if counter is not None:
        payload = encrypt_bthome(payload, address=ADDRESS, bindkey=KEY, counter=counter)
    decoded = decode_bthome_payload(
        payload, address=ADDRESS, bindkey=None if counter is None else KEY
    )
    assert decoded.measurements == measurements
    assert decoded.packet_id == packet_id
    assert decoded.encrypted == (counter is not None)


@FUZZ
@given(
    temperature=st.integers(-32767, 32767).map(lambda r: r / 200),
    humidity=st.integers(0, 65534).map(lambda r: r / 400),
    pressure=st.integers(0, 65534).map(lambda r: (r + 50000) / 100),
    acceleration=st.integers(-32767, 32767).map(lambda r: r / 1000),
    voltage=st.integers(1600, 3646).map(lambda mv: mv / 1000),
    tx_power=st.integers(0, 30).map(lambda r: float(r * 2 - 40)),
    movement=st.integers(0, 254).map(float),
    sequence=st.integers(0, 65534),
)
def test_ruuvi_round_trip(
    temperature: float,
    humidity: float,
    pressure: float,
    acceleration: float,
    voltage: float,
    tx_power: float,
    movement: float,
    sequence: int,
) -> None:
    measurements = (
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("pressure", pressure, "hPa"),
        M("acceleration_x", acceleration, "g"),
        M("acceleration_y", -acceleration, "g"),
        M("acceleration_z", acceleration, "g"),
        M("voltage", voltage, "V"),
        M("tx_power", tx_power, "dBm"),
        M("movement_counter", movement, None),
    )
    decoded = decode_ruuvi_payload(encode_ruuvi(measurements, sequence=sequence, mac=ADDRESS))
    assert decoded.measurements == measurements
    assert decoded.packet_id == sequence
    assert decoded.mac == ADDRESS


@FUZZ
@given(
    temperature=hundredths,
    humidity=st.integers(0, 10000).map(lambda r: r / 100),
    battery=st.integers(0, 100).map(float),
    voltage=st.integers(0, 65535).map(lambda mv: mv / 1000),
    counter=st.integers(0, 255),
)
def test_pvvx_round_trip(
    temperature: float, humidity: float, battery: float, voltage: float, counter: int
) -> None:
    measurements = (
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("battery", battery, "%"),
        M("voltage", voltage, "V"),
    )
    decoded = decode_atc_payload(encode_pvvx(measurements, mac=ADDRESS, counter=counter))
    assert decoded.measurements == measurements
    assert (decoded.packet_id, decoded.mac) == (counter, ADDRESS)
