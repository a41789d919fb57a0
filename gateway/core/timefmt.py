"""Fast UTC ISO 8601 timestamps with milliseconds (``2026-11-25T10:00:00.123Z``)."""

from __future__ import annotations

import time

__all__ = ["iso_ms"]

_cache_second = -1
_cache_prefix = ""


def iso_ms(ts: float) -> str:
    """``ts`` (epoch seconds) as UTC ISO 8601 with milliseconds; the second's prefix is cached."""
    global _cache_second, _cache_prefix  # noqa: PLW0603 - a one-entry cache on the hot path
    second, millis = divmod(int(ts * 1000 + 0.5), 1000)  # nearest millisecond
    if second != _cache_second:
        _cache_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _cache_second = second
    return f"{_cache_prefix}.{millis:03d}Z"
