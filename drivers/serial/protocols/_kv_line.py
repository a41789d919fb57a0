"""Key/value lines: ``temperature=21.5 humidity=40``.

``pair_separator`` splits the line into pairs (None, the default: any run of whitespace; or
e.g. ``","`` / ``";"``), ``kv_separator`` splits each pair at its first occurrence (default
``"="``, or e.g. ``":"``). Keys and values are stripped of blanks. Pairs without the separator,
with an empty key or a non-numeric value are ignored; a repeated key: the last one wins; a line
without any numeric pair is ``garbage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.sdk import DecodeError, Measurement

from ._common import GARBAGE, as_text, parse_number, require_finite
from ._fields import FieldOptions

__all__ = ["KvLineDecoder", "encode_kv_line"]


@dataclass(frozen=True, slots=True)
class KvLineDecoder:
    """Decode one ``key=value key=value`` line into measurements."""

    options: FieldOptions = field(default_factory=FieldOptions)
    pair_separator: str | None = None
    kv_separator: str = "="

    def __post_init__(self) -> None:
        if self.pair_separator == "" or not self.kv_separator:
            raise ValueError("kv separators must not be empty")
        if self.pair_separator is not None and self.kv_separator in self.pair_separator:
            raise ValueError("kv_separator must differ from pair_separator")
        if self.pair_separator is None and self.kv_separator.isspace():
            raise ValueError("kv_separator must not be whitespace when pairs split on whitespace")

    def decode(self, line: bytes | str) -> list[Measurement]:
        found: list[tuple[str, float]] = []
        for pair in as_text(line).split(self.pair_separator):
            key, sep, text = pair.partition(self.kv_separator)
            value = parse_number(text) if sep else None
            if value is not None and key.strip():
                found.append((key.strip(), value))
        if not found:
            raise DecodeError("no key=number pair in line", kind=GARBAGE)
        return self.options.apply(found)


def encode_kv_line(
    values: Mapping[str, float], pair_separator: str = " ", kv_separator: str = "="
) -> bytes:
    """One key/value line (no newline); values as ``repr(float)``."""
    pairs = (f"{k}{kv_separator}{float(require_finite(k, v))!r}" for k, v in values.items())
    return pair_separator.join(pairs).encode()
