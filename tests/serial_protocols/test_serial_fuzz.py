"""Hypothesis: decoders and framers take any input, raise only DecodeError, never yield NaN;
encoders round-trip; framing does not depend on how the stream is chunked."""

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial.protocols import (
    MHZ19,
    PMS5003,
    SDS011,
    BinaryFramer,
    CsvLineDecoder,
    FieldOptions,
    FrameResult,
    FrameSpec,
    JsonLineDecoder,
    KvLineDecoder,
    LineFramer,
    RegexLineDecoder,
    decode_mhz19,
    decode_nmea,
    decode_pms5003,
    decode_sds011,
    encode_csv_line,
    encode_gga,
    encode_json_line,
    encode_kv_line,
    encode_mhz19_response,
    encode_pms5003,
    encode_rmc,
    encode_sds011,
    nmea_checksum,
    parse_number,
)
from gateway.core.readings import Measurement
from gateway.errors import DecodeError

FUZZ = settings(max_examples=300, deadline=None)
KINDS = {"garbage", "checksum", "too_long", "out_of_range", "decode"}

LINE_DECODERS = [
    JsonLineDecoder().decode,
    CsvLineDecoder(fields=["a", "b", "c"]).decode,
    KvLineDecoder().decode,
    KvLineDecoder(pair_separator=";", kv_separator=":").decode,
    RegexLineDecoder(r"(?P<a>\S+) (?P<b>\S+)").decode,
    decode_nmea,
]
FRAME_DECODERS = [decode_pms5003, decode_sds011, decode_mhz19]

_Input = TypeVar("_Input", bound=bytes | str)


def assert_sane(measurements: list[Measurement]) -> None:
    assert isinstance(measurements, list)
    for m in measurements:
        assert isinstance(m, Measurement)
        assert isinstance(m.name, str)
        assert m.name
        assert isinstance(m.value, float)
        assert math.isfinite(m.value)


def run(decode: Callable[[_Input], list[Measurement]], data: _Input) -> None:
    result: FrameResult
    try:
        result = decode(data)
    except DecodeError as exc:
        result = exc
    check_results([result])


def check_results(results: Iterable[FrameResult]) -> None:
    for item in results:
        if isinstance(item, DecodeError):
            assert item.kind in KINDS
        else:
            assert_sane(item)


# text that looks like the line protocols, to get past the first checks
line_text = st.text(alphabet='{}[]":,;= \t$*GPAMNSEW.-+eE0123456789abnfi_', max_size=80)


@FUZZ
@given(data=st.one_of(st.binary(max_size=120), line_text, line_text.map(str.encode)))
def test_line_decoders_never_raise_anything_else(data: bytes | str) -> None:
    for decode in LINE_DECODERS:
        run(decode, data)


@FUZZ
@given(data=st.binary(max_size=120))
def test_learning_csv_decoder_never_raises_anything_else(data: bytes) -> None:
    decoder = CsvLineDecoder(delimiter=",")
    for line in data.split(b"\n"):
        run(decoder.decode, line)


nmea_field = st.text(alphabet="0123456789.-+eEnaifNSEWAVMx_ ", max_size=12)


@st.composite
def nmea_sentences(draw: st.DrawFn) -> str:
    """Sentences with a correct checksum, so the field conversion itself is fuzzed."""
    address = draw(st.sampled_from(["GPGGA", "GNRMC", "GPRMC", "GLGGA", "GPGSV", "PASH", "PUBX"]))
    body = ",".join([address, *draw(st.lists(nmea_field, max_size=15))])
    return f"${body}*{nmea_checksum(body):02X}"


@FUZZ
@given(line=nmea_sentences())
def test_nmea_on_checksummed_sentences(line: str) -> None:
    run(decode_nmea, line)


nested_json = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(obj=nested_json)
def test_json_decoder_on_any_json(obj: object) -> None:
    run(JsonLineDecoder(FieldOptions(scale={"a": 1e300})).decode, orjson.dumps(obj))


@FUZZ
@given(data=st.binary(max_size=40))
def test_frame_decoders_never_raise_anything_else(data: bytes) -> None:
    for decode in FRAME_DECODERS:
        run(decode, data)


def mutated(frame_strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid frames with a few bytes overwritten: gets past header and length checks."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        frame = bytearray(draw(frame_strategy))
        for _ in range(draw(st.integers(0, 3))):
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
        return bytes(frame)

    return build()


u16 = st.integers(0, 0xFFFF)
pms_frames = st.builds(
    lambda a, b, c, p: encode_pms5003(a, b, c, particles=p),
    u16,
    u16,
    u16,
    st.tuples(u16, u16, u16, u16, u16, u16),
)
sds_frames = st.builds(
    encode_sds011,
    st.integers(0, 0xFFFF).map(lambda r: r / 10),
    st.integers(0, 0xFFFF).map(lambda r: r / 10),
)
mhz_frames = st.builds(encode_mhz19_response, u16, st.integers(-40, 215))


@FUZZ
@given(
    pms=mutated(pms_frames),
    sds=mutated(sds_frames),
    mhz=mutated(mhz_frames),
)
def test_frame_decoders_on_mutated_frames(pms: bytes, sds: bytes, mhz: bytes) -> None:
    run(decode_pms5003, pms)
    run(decode_sds011, sds)
    run(decode_mhz19, mhz)


# --- round trips ---------------------------------------------------------------------------

mass = st.integers(0, 1000)


@FUZZ
@given(a=mass, b=mass, c=mass, counts=st.tuples(*[u16] * 6))
def test_pms5003_round_trip(a: int, b: int, c: int, counts: tuple[int, ...]) -> None:
    got = decode_pms5003(encode_pms5003(a, b, c, particles=counts))
    assert [m.value for m in got] == [a, b, c, *counts]


@FUZZ
@given(pm2_5=st.integers(0, 9999), pm10=st.integers(0, 9999), device=u16)
def test_sds011_round_trip(pm2_5: int, pm10: int, device: int) -> None:
    got = decode_sds011(encode_sds011(pm2_5 / 10, pm10 / 10, device_id=device))
    assert [m.value for m in got] == [pm2_5 / 10, pm10 / 10]


@FUZZ
@given(co2=st.integers(0, 10000), temperature=st.integers(-40, 215))
def test_mhz19_round_trip(co2: int, temperature: int) -> None:
    got = decode_mhz19(encode_mhz19_response(co2, temperature))
    assert [m.value for m in got] == [co2, temperature]


lat = st.floats(-90, 90)
lon = st.floats(-180, 180)


@FUZZ
@given(
    la=lat,
    lo=lon,
    alt=st.floats(-1000, 50000),
    sats=st.integers(0, 99),
    quality=st.integers(1, 8),
    kmh=st.floats(0, 2000),
)
def test_nmea_round_trip(
    la: float, lo: float, alt: float, sats: int, quality: int, kmh: float
) -> None:
    gga = {
        m.name: m.value
        for m in decode_nmea(encode_gga(la, lo, altitude=alt, satellites=sats, fix_quality=quality))
    }
    assert gga["fix_quality"] == quality
    assert gga["satellites"] == sats
    assert math.isclose(gga["latitude"], la, abs_tol=1e-7)
    assert math.isclose(gga["longitude"], lo, abs_tol=1e-7)
    assert math.isclose(gga["altitude"], alt, abs_tol=0.05 + 1e-9)
    rmc = {m.name: m.value for m in decode_nmea(encode_rmc(la, lo, speed_kmh=kmh))}
    assert math.isclose(rmc["speed"], kmh, abs_tol=0.001 * 1.852)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda s: parse_number(s) is None  # "nan", "inf": not a CSV header name
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@FUZZ
@given(values=st.dictionaries(names, finite, min_size=1, max_size=5))
def test_line_round_trips(values: dict[str, float]) -> None:
    expected = {k: float(v) for k, v in values.items()}

    def as_dict(ms: Iterable[Measurement]) -> dict[str, float]:
        return {m.name: m.value for m in ms}

    assert as_dict(JsonLineDecoder().decode(encode_json_line(values))) == expected
    assert as_dict(KvLineDecoder().decode(encode_kv_line(values))) == expected
    kv = KvLineDecoder(pair_separator=",", kv_separator=":")
    assert as_dict(kv.decode(encode_kv_line(values, ",", ":"))) == expected
    csv = CsvLineDecoder()
    assert csv.decode(encode_csv_line(list(values))) == []
    assert as_dict(csv.decode(encode_csv_line(list(values.values())))) == expected


# --- framers -------------------------------------------------------------------------------


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@FUZZ
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_framers_take_any_bytes_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    framers = [BinaryFramer(PMS5003), BinaryFramer(SDS011), BinaryFramer(MHZ19)]
    lines = LineFramer(KvLineDecoder().decode, max_length=32)
    for chunk in chunked(data, cuts):
        for framer in framers:
            check_results(framer.feed(chunk))
            assert len(framer._buf) < framer.spec.size
        check_results(lines.feed(chunk))
        assert len(lines._splitter._buf) <= 33


FRAMES = {"pms": (PMS5003, pms_frames), "sds": (SDS011, sds_frames), "mhz": (MHZ19, mhz_frames)}


@st.composite
def streams(
    draw: st.DrawFn, spec: FrameSpec, frames: st.SearchStrategy[bytes]
) -> tuple[bytes, list[bytes]]:
    """Good frames interleaved with garbage that cannot start a header."""
    noise = st.binary(max_size=40).map(lambda b: b.replace(spec.header[:1], b""))
    parts = draw(st.lists(st.tuples(noise, frames), max_size=6))
    tail = draw(noise)
    good = [f for _, f in parts]
    return b"".join(g + f for g, f in parts) + tail, good


@FUZZ
@given(st.data(), st.lists(st.integers(0, 10_000), max_size=12))
def test_every_good_frame_is_recovered_whatever_the_chunking(
    data: st.DataObject, cuts: list[int]
) -> None:
    for spec, frames in FRAMES.values():
        stream, good = data.draw(streams(spec, frames))
        whole = BinaryFramer(spec).feed(stream)
        framer = BinaryFramer(spec)
        pieces = [r for chunk in chunked(stream, cuts) for r in framer.feed(chunk)]
        assert [r for r in pieces if not isinstance(r, DecodeError)] == [
            r for r in whole if not isinstance(r, DecodeError)
        ]
        expected: list[Sequence[Measurement]] = []
        for frame in good:
            with contextlib.suppress(DecodeError):  # out_of_range: still consumed whole
                expected.append(spec.decode(frame))
        assert [r for r in whole if not isinstance(r, DecodeError)] == expected
        assert all(
            r.kind in {"garbage", "out_of_range"} for r in pieces if isinstance(r, DecodeError)
        )


@FUZZ
@given(
    lines=st.lists(st.dictionaries(names, finite, min_size=1, max_size=3), max_size=8),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_line_framer_chunking_invariance(lines: list[dict[str, float]], cuts: list[int]) -> None:
    stream = b"".join(encode_kv_line(v) + b"\r\n" for v in lines)
    framer = LineFramer(KvLineDecoder().decode, max_length=1000)
    results = [r for chunk in chunked(stream, cuts) for r in framer.feed(chunk)]
    assert results == [[Measurement(k, float(v)) for k, v in line.items()] for line in lines]
