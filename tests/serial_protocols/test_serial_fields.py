"""FieldOptions post-processing and strict number parsing."""

import math
from collections.abc import Mapping
from typing import TypedDict

import pytest

from drivers.serial.protocols import FieldOptions, parse_number
from gateway.core.readings import Measurement
from gateway.errors import DecodeError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21.5", 21.5),
        (" -3 ", -3.0),
        ("+.5", 0.5),
        ("7.", 7.0),
        ("1e3", 1000.0),
        ("1.5E-2", 0.015),
        ("", None),
        ("abc", None),
        ("1_000", None),  # float() accepts it, we do not
        ("١٢", None),  # Arabic-Indic digits: float() accepts them, we do not
        ("0x10", None),
        ("21.5C", None),
        ("1.2.3", None),
    ],
)
def test_parse_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["nan", "NaN", "-inf", "Infinity", "1e999"])
def test_parse_number_returns_non_finite_for_the_caller_to_reject(text: str) -> None:
    value = parse_number(text)
    assert value is not None
    assert not math.isfinite(value)


def test_defaults_publish_every_field_unchanged() -> None:
    assert FieldOptions().apply([("t", 21.5), ("h", 40.0)]) == [
        Measurement("t", 21.5),
        Measurement("h", 40.0),
    ]


def test_all_options_are_keyed_by_source_name() -> None:
    options = FieldOptions(
        units={"t": "°C", "p": "hPa"},
        scale={"p": 0.01},
        offset={"t": -0.5},
        rename={"t": "temperature"},
        exclude=["junk"],
    )
    got = options.apply([("t", 22.0), ("p", 101325.0), ("junk", 1.0)])
    # compared field by field: pytest.approx is no float for Measurement's constructor
    assert [(m.name, m.value, m.unit) for m in got] == [
        ("temperature", 21.5, "°C"),
        ("p", pytest.approx(1013.25), "hPa"),
    ]


def test_include_then_exclude() -> None:
    options = FieldOptions(include=["a", "b"], exclude=["b"])
    assert options.apply([("a", 1.0), ("b", 2.0), ("c", 3.0)]) == [Measurement("a", 1.0)]


def test_excluding_every_field_is_not_an_error() -> None:
    assert FieldOptions(include=[]).apply([("a", 1.0)]) == []


def test_empty_names_are_skipped_and_later_duplicates_win() -> None:
    options = FieldOptions(rename={"x": "a"})
    assert options.apply([("", 1.0), ("a", 2.0), ("x", 3.0)]) == [Measurement("a", 3.0)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_out_of_range(value: float) -> None:
    with pytest.raises(DecodeError) as info:
        FieldOptions().apply([("a", value)])
    assert info.value.kind == "out_of_range"


def test_scaling_into_overflow_is_out_of_range() -> None:
    with pytest.raises(DecodeError) as info:
        FieldOptions(scale={"a": 1e300}).apply([("a", 1e300)])
    assert info.value.kind == "out_of_range"


class _MapOptions(TypedDict, total=False):
    scale: Mapping[str, float]
    offset: Mapping[str, float]
    rename: Mapping[str, str]


@pytest.mark.parametrize(
    "kwargs", [{"scale": {"a": math.nan}}, {"offset": {"a": math.inf}}, {"rename": {"a": ""}}]
)
def test_bad_options_are_value_errors(kwargs: _MapOptions) -> None:
    with pytest.raises(ValueError, match="a"):
        FieldOptions(**kwargs)


def test_options_are_frozen_copies() -> None:
    units = {"a": "V"}
    options = FieldOptions(units=units, include=["a"])
    units["a"] = "mV"
    assert options.units["a"] == "V"
    assert options.include == frozenset({"a"})
    with pytest.raises(AttributeError):
        options.units = {}  # type: ignore[misc]  # assigning to the frozen field is the test
