"""Modbus register values: pure decoding/encoding and read planning (no I/O).

A register is 16 bits. 32-bit types span two registers: ``word_order = "big"`` (the default,
the Modbus convention) puts the high word first; ``"little"`` the low word first.
``byte_order = "little"`` swaps the two bytes inside every register (some meters do).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.sdk import DecodeError, Measurement

__all__ = [
    "MAX_READ",
    "ReadBlock",
    "RegisterSpec",
    "decode_registers",
    "encode_registers",
    "plan_reads",
]

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Order = Literal["big", "little"]
Function = Literal["holding", "input"]

MAX_READ = 125  # registers per read request (Modbus limit)

_FORMATS: dict[str, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "float32": (">f", 2),
}


def register_count(kind: RegisterType) -> int:
    return _FORMATS[kind][1]


def _swap_bytes(words: Sequence[int]) -> list[int]:
    return [((w & 0xFF) << 8) | (w >> 8) for w in words]


def decode_registers(
    words: Sequence[int], kind: RegisterType, word_order: Order = "big", byte_order: Order = "big"
) -> float:
    """The value held by ``words`` (16-bit register values, in address order)."""
    fmt, count = _FORMATS[kind]
    if len(words) != count or any(not 0 <= w <= 0xFFFF for w in words):
        raise DecodeError(f"{kind} needs {count} 16-bit registers, got {list(words)!r}")
    ordered = list(words) if word_order == "big" else list(reversed(words))
    if byte_order == "little":
        ordered = _swap_bytes(ordered)
    value = struct.unpack(fmt, struct.pack(f">{count}H", *ordered))[0]
    if not math.isfinite(value):
        raise DecodeError(f"{kind} register value is not finite", kind="out_of_range")
    if kind == "float32":  # no digits beyond single precision: 1.57, not 1.5700000524520874
        return float(f"{value:.7g}")
    return float(value)


def encode_registers(
    value: float, kind: RegisterType, word_order: Order = "big", byte_order: Order = "big"
) -> list[int]:
    """The registers that hold ``value`` (for simulators); the inverse of decode_registers."""
    fmt, count = _FORMATS[kind]
    number: float | int = value if kind == "float32" else round(value)
    words = list(struct.unpack(f">{count}H", struct.pack(fmt, number)))
    if byte_order == "little":
        words = _swap_bytes(words)
    return words if word_order == "big" else list(reversed(words))


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """One value on a Modbus device."""

    name: str
    address: int
    function: Function = "holding"
    kind: RegisterType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    @property
    def count(self) -> int:
        return register_count(self.kind)

    def measure(self, words: Sequence[int]) -> Measurement:
        raw = decode_registers(words, self.kind, self.word_order, self.byte_order)
        return Measurement(self.name, raw * self.scale + self.offset, self.unit)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers of ``function`` from ``address``, and its users."""

    function: Function
    address: int
    count: int
    specs: tuple[RegisterSpec, ...]

    def measurements(self, words: Sequence[int]) -> list[Measurement]:
        if len(words) < self.count:
            raise DecodeError(f"short Modbus response: {len(words)} of {self.count} registers")
        start = self.address
        return [s.measure(words[s.address - start : s.address - start + s.count])
                for s in self.specs]


def plan_reads(specs: Sequence[RegisterSpec]) -> list[ReadBlock]:
    """Merge registers that are adjacent or overlapping into as few reads as possible."""
    blocks: list[ReadBlock] = []
    for spec in sorted(specs, key=lambda s: (s.function, s.address)):
        last = blocks[-1] if blocks else None
        end = spec.address + spec.count
        if (last and last.function == spec.function and spec.address <= last.address + last.count
                and end - last.address <= MAX_READ):
            blocks[-1] = ReadBlock(last.function, last.address,
                                   max(last.count, end - last.address), (*last.specs, spec))
        else:
            blocks.append(ReadBlock(spec.function, spec.address, spec.count, (spec,)))
    return blocks
