"""The interface every line decoder implements."""

from __future__ import annotations

from typing import Protocol

from gateway.sdk import Measurement

__all__ = ["LineDecoder"]


class LineDecoder(Protocol):
    """Turns one line (without its newline) into measurements; raises only DecodeError."""

    def decode(self, line: bytes | str) -> list[Measurement]: ...
