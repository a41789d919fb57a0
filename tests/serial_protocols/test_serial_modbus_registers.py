"""Modbus register decoding: tables of known register values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial.protocols._modbus import (
    Order,
    RegisterSpec,
    RegisterType,
    decode_registers,
    encode_registers,
    plan_reads,
)
from gateway.core.readings import Measurement
from gateway.errors import DecodeError


@pytest.mark.parametrize(
    ("words", "kind", "word_order", "byte_order", "value"),
    [
        ([0x0000], "uint16", "big", "big", 0),
        ([0xFFFF], "uint16", "big", "big", 65535),
        ([0xFFFF], "int16", "big", "big", -1),
        ([0x8000], "int16", "big", "big", -32768),
        ([0x00E6], "int16", "big", "little", -6656),  # bytes swapped: 0xE600
        ([0x0001, 0x0000], "uint32", "big", "big", 65536),
        ([0x0000, 0x0001], "uint32", "little", "big", 65536),
        ([0xFFFF, 0xFFFE], "int32", "big", "big", -2),
        # 230.5 as IEEE 754 single precision is 0x43668000
        ([0x4366, 0x8000], "float32", "big", "big", 230.5),
        ([0x8000, 0x4366], "float32", "little", "big", 230.5),
        ([0x6643, 0x0080], "float32", "big", "little", 230.5),
        ([0x0080, 0x6643], "float32", "little", "little", 230.5),
        # 50.0 = 0x42480000
        ([0x4248, 0x0000], "float32", "big", "big", 50.0),
    ],
)
def test_decode_known_registers(
    words: list[int], kind: RegisterType, word_order: Order, byte_order: Order, value: float
) -> None:
    assert decode_registers(words, kind, word_order, byte_order) == value
    assert encode_registers(value, kind, word_order, byte_order) == words


@pytest.mark.parametrize(
    ("words", "kind"),
    [([1, 2], "uint16"), ([1], "float32"), ([0x10000], "uint16"), ([0x7FC0, 0x0000], "float32")],
)
def test_bad_registers_raise_decode_error(words: list[int], kind: RegisterType) -> None:
    with pytest.raises(DecodeError):
        decode_registers(words, kind)


@settings(max_examples=300)
@given(st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=3),
       st.sampled_from(["int16", "uint16", "int32", "uint32", "float32"]),
       st.sampled_from(["big", "little"]), st.sampled_from(["big", "little"]))
def test_fuzz_only_decode_errors(
    words: list[int], kind: RegisterType, word_order: Order, byte_order: Order
) -> None:
    try:
        value = decode_registers(words, kind, word_order, byte_order)
    except DecodeError:
        return
    assert math.isfinite(value)


def test_plan_merges_adjacent_registers_per_function() -> None:
    specs = [
        RegisterSpec("voltage", 0, "input", "float32", unit="V"),
        RegisterSpec("current", 2, "input", "float32", unit="A"),
        RegisterSpec("power", 10, "input", "int16", scale=10, unit="W"),
        RegisterSpec("setpoint", 0, "holding", "uint16", scale=0.1, unit="°C"),
    ]
    blocks = plan_reads(specs)
    assert [(b.function, b.address, b.count) for b in blocks] == [
        ("holding", 0, 1), ("input", 0, 4), ("input", 10, 1)]
    assert blocks[1].measurements([0x4366, 0x8000, 0x3FC0, 0x0000]) == [
        Measurement("voltage", 230.5, "V"), Measurement("current", 1.5, "A")]
    assert blocks[0].measurements([215]) == [Measurement("setpoint", 21.5, "°C")]
    with pytest.raises(DecodeError, match="short"):
        blocks[1].measurements([1, 2])
