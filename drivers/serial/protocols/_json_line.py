"""JSON lines: each line one JSON object of ``name -> number``.

Nested objects are flattened with ``_`` (``{"a": {"b": 1}}`` -> field ``a_b``). Only JSON
numbers count: booleans, strings (even ``"21.5"``), null and arrays are ignored. A line that is
not JSON is ``garbage``; valid JSON that is not an object is ``decode``; an object without any
numeric field is ``garbage``. Field names, units etc. then go through :class:`FieldOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from gateway.sdk import DecodeError, Measurement

from ._common import DECODE, GARBAGE, require_finite
from ._fields import FieldOptions

__all__ = ["JsonLineDecoder", "encode_json_line"]


def _flatten(obj: dict[str, object]) -> list[tuple[str, float]]:
    """Numeric leaves of ``obj`` as ``(a_b_c, value)`` pairs; iterative, so depth cannot recurse."""
    found: list[tuple[str, float]] = []
    stack: list[tuple[str, dict[str, object]]] = [("", obj)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            name = f"{prefix}_{key}" if prefix else key
            if isinstance(value, dict):
                stack.append((name, value))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                found.append((name, float(value)))
    return found


@dataclass(frozen=True, slots=True)
class JsonLineDecoder:
    """Decode one JSON-object line into measurements."""

    options: FieldOptions = field(default_factory=FieldOptions)

    def decode(self, line: bytes | str) -> list[Measurement]:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"not JSON: {exc}", kind=GARBAGE) from exc
        if not isinstance(obj, dict):
            raise DecodeError(f"JSON line is a {type(obj).__name__}, not an object", kind=DECODE)
        fields = _flatten(obj)
        if not fields:
            raise DecodeError("JSON object without a numeric field", kind=GARBAGE)
        return self.options.apply(fields)


def encode_json_line(values: Mapping[str, float]) -> bytes:
    """One JSON object line (no newline) from ``values``; NaN/inf are a ValueError."""
    return orjson.dumps({name: require_finite(name, value) for name, value in values.items()})
