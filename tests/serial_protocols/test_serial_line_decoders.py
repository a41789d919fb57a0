"""JSON, CSV, key/value and regex line decoders, and their encoders."""

from collections.abc import Callable, Iterable, Sequence
from typing import TypedDict

import pytest

from drivers.serial.protocols import (
    CsvLineDecoder,
    FieldOptions,
    JsonLineDecoder,
    KvLineDecoder,
    LineDecoder,
    RegexLineDecoder,
    encode_csv_line,
    encode_json_line,
    encode_kv_line,
)
from gateway.core.readings import Measurement
from gateway.errors import DecodeError

M = Measurement


def kind_of(decode: Callable[[bytes], list[Measurement]], line: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode(line)
    return info.value.kind


def as_dict(measurements: Iterable[Measurement]) -> dict[str, float]:
    return {m.name: m.value for m in measurements}


LINES = [b'{"a": 1}', b"1", b"a=1", b"x 1"]


def test_all_line_decoders_satisfy_the_protocol() -> None:
    decoders: list[LineDecoder] = [
        JsonLineDecoder(),
        CsvLineDecoder(fields=["a"]),
        KvLineDecoder(),
        RegexLineDecoder(r"(?P<a>\d+)"),
    ]
    assert all(d.decode(line) == [M("a", 1.0)] for d, line in zip(decoders, LINES, strict=True))


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"t": 21.5, "h": 40}', {"t": 21.5, "h": 40.0}),
        ('{"t": -1e2}', {"t": -100.0}),
        (b'{"a": {"b": 1, "c": {"d": 2}}, "e": 3}', {"a_b": 1.0, "a_c_d": 2.0, "e": 3.0}),
        (b'{"ok": true, "t": 1, "s": "2", "n": null, "l": [3]}', {"t": 1.0}),  # only numbers
        (b'  {"t": 1}  ', {"t": 1.0}),
    ],
)
def test_json_lines(line: bytes | str, expected: dict[str, float]) -> None:
    assert as_dict(JsonLineDecoder().decode(line)) == expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"", "garbage"),
        (b"{not json", "garbage"),
        (b'{"t": NaN}', "garbage"),  # not JSON at all (orjson is strict)
        (b'{"t": 1e400}', "garbage"),  # orjson refuses numbers that overflow a double
        (b"\xff\xfe", "garbage"),
        (b"[1, 2]", "decode"),
        (b"42", "decode"),
        (b'{"ok": true, "s": "x"}', "garbage"),  # no numeric field
        (b"{}", "garbage"),
    ],
)
def test_json_errors(line: bytes, kind: str) -> None:
    assert kind_of(JsonLineDecoder().decode, line) == kind


def test_json_deep_nesting_does_not_recurse() -> None:
    line = b'{"a":' * 500 + b"1" + b"}" * 500
    [m] = JsonLineDecoder().decode(line)
    assert m.name == "_".join(["a"] * 500)


def test_json_with_options() -> None:
    decoder = JsonLineDecoder(FieldOptions(units={"env_t": "°C"}, rename={"env_t": "temperature"}))
    assert decoder.decode(b'{"env": {"t": 20}}') == [M("temperature", 20.0, "°C")]


def test_json_encoder_round_trip() -> None:
    values = {"t": 21.5, "h": 40.0, "big": 1.5e300}
    assert as_dict(JsonLineDecoder().decode(encode_json_line(values))) == values


def test_json_encoder_refuses_nan() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode_json_line({"t": float("nan")})


# --- CSV -----------------------------------------------------------------------------------


def test_csv_with_given_fields() -> None:
    decoder = CsvLineDecoder(fields=["t", "h", "status"], options=FieldOptions(units={"t": "°C"}))
    assert decoder.decode(b"21.5, 40 ,ok") == [M("t", 21.5, "°C"), M("h", 40.0)]
    # a header-looking line is just a non-numeric data line when fields are given
    assert kind_of(decoder.decode, b"t,h,status") == "garbage"


def test_csv_learns_the_header_and_ignores_its_repeats() -> None:
    decoder = CsvLineDecoder(delimiter=";")
    assert decoder.fields is None
    assert kind_of(decoder.decode, b"1;2") == "decode"  # data before any header
    assert decoder.decode(b'"temp"; hum') == []
    assert decoder.fields == ("temp", "hum")
    assert decoder.decode(b"21;40") == [M("temp", 21.0), M("hum", 40.0)]
    assert decoder.decode(b"temp;hum") == []  # device reset reprints the header
    assert kind_of(decoder.decode, b"a;b") == "garbage"  # a different header is not learned
    decoder.reset()
    assert decoder.decode(b"a;b") == []
    assert decoder.fields == ("a", "b")


@pytest.mark.parametrize("line", [b"a,,b", b"a,a", b"t,1"])
def test_csv_lines_that_are_not_headers(line: bytes) -> None:
    assert kind_of(CsvLineDecoder().decode, line) == "decode"


@pytest.mark.parametrize(
    ("line", "kind"), [(b"1,2,3", "decode"), (b"1", "decode"), (b"x,", "garbage")]
)
def test_csv_errors(line: bytes, kind: str) -> None:
    assert kind_of(CsvLineDecoder(fields=["a", "b"]).decode, line) == kind


def test_csv_non_finite_cell_is_out_of_range() -> None:
    assert kind_of(CsvLineDecoder(fields=["a", "b"]).decode, b"1,nan") == "out_of_range"


class _CsvArgs(TypedDict, total=False):
    fields: Sequence[str]
    delimiter: str


@pytest.mark.parametrize(
    "kwargs", [{"delimiter": ""}, {"fields": ["a", "a"]}, {"fields": ["a", ""]}]
)
def test_csv_bad_construction(kwargs: _CsvArgs) -> None:
    with pytest.raises(ValueError, match="CSV"):
        CsvLineDecoder(**kwargs)


def test_csv_encoder_round_trip() -> None:
    decoder = CsvLineDecoder(delimiter="\t")
    assert decoder.decode(encode_csv_line(["t", "h"], delimiter="\t")) == []
    assert decoder.decode(encode_csv_line([21.5, -0.001], delimiter="\t")) == [
        M("t", 21.5),
        M("h", -0.001),
    ]


# --- key/value -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decoder", "line", "expected"),
    [
        (KvLineDecoder(), b"temperature=21.5 humidity=40", {"temperature": 21.5, "humidity": 40.0}),
        (KvLineDecoder(), b"  t=1\t\th=2  ", {"t": 1.0, "h": 2.0}),
        (KvLineDecoder(), b"t=1 name=kitchen flag h=2 =3 x=", {"t": 1.0, "h": 2.0}),
        (KvLineDecoder(), b"t=1 t=2", {"t": 2.0}),
        (KvLineDecoder(pair_separator=","), b"t = 1, h=2,", {"t": 1.0, "h": 2.0}),
        (KvLineDecoder(pair_separator=";", kv_separator=":"), b"t:1;h: 2", {"t": 1.0, "h": 2.0}),
        (KvLineDecoder(kv_separator=":"), "T:-4.5 RH:99", {"T": -4.5, "RH": 99.0}),
    ],
)
def test_kv_lines(decoder: KvLineDecoder, line: bytes | str, expected: dict[str, float]) -> None:
    assert as_dict(decoder.decode(line)) == expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"", "garbage"),
        (b"hello world", "garbage"),
        (b"a=b", "garbage"),
        (b"t=inf", "out_of_range"),
    ],
)
def test_kv_errors(line: bytes, kind: str) -> None:
    assert kind_of(KvLineDecoder().decode, line) == kind


class _KvArgs(TypedDict, total=False):
    pair_separator: str | None
    kv_separator: str


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pair_separator": ""},
        {"kv_separator": ""},
        {"pair_separator": "=", "kv_separator": "="},
        {"kv_separator": " "},
    ],
)
def test_kv_bad_separators(kwargs: _KvArgs) -> None:
    with pytest.raises(ValueError, match="separator"):
        KvLineDecoder(**kwargs)


def test_kv_encoder_round_trip() -> None:
    values = {"t": 21.5, "h": 40.0}
    line = encode_kv_line(values, pair_separator=";", kv_separator=":")
    assert line == b"t:21.5;h:40.0"
    decoder = KvLineDecoder(pair_separator=";", kv_separator=":")
    assert as_dict(decoder.decode(line)) == values


# --- regex ---------------------------------------------------------------------------------


def test_regex_named_groups_become_fields() -> None:
    decoder = RegexLineDecoder(
        r"T=(?P<temperature>\S+)C RH=(?P<humidity>\S+)% (?P<label>\w+)(?: (?P<opt>\d+))?",
        FieldOptions(units={"temperature": "°C", "humidity": "%"}),
    )
    assert decoder.decode(b">> T=21.5C RH=40% kitchen") == [
        M("temperature", 21.5, "°C"),
        M("humidity", 40.0, "%"),
    ]


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b"nothing here", "garbage"), (b"v=x", "garbage"), (b"v=nan", "out_of_range")],
)
def test_regex_errors(line: bytes, kind: str) -> None:
    assert kind_of(RegexLineDecoder(r"v=(?P<v>\w+)").decode, line) == kind


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("(?P<v>\\d+", "invalid regex"), (r"(\d+)", "no named group"), ("", "no named group")],
)
def test_regex_bad_patterns_fail_at_construction(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegexLineDecoder(pattern)
