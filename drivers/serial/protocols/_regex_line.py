"""Regex lines: the named groups of a user pattern become fields.

The pattern is searched (``re.search``; anchor it with ``^...$`` for a full match) in the line
decoded as UTF-8. Each named group that took part in the match and holds a number gives a field
named after the group; other groups are ignored. No match, or no numeric group, is ``garbage``.
Pattern problems are found when the decoder is built: a pattern that does not compile or has no
named group is a ``ValueError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.sdk import DecodeError, Measurement

from ._common import GARBAGE, as_text, parse_number
from ._fields import FieldOptions

__all__ = ["RegexLineDecoder"]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, or ValueError saying what is wrong with it."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
    if not regex.groupindex:
        raise ValueError(
            f"regex {pattern!r} has no named group: use (?P<name>...) for each value to publish"
        )
    return regex


@dataclass(frozen=True, slots=True)
class RegexLineDecoder:
    """Decode a line with a regex whose named groups are the fields."""

    pattern: str
    options: FieldOptions = field(default_factory=FieldOptions)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_pattern(self.pattern))

    def decode(self, line: bytes | str) -> list[Measurement]:
        match = self._regex.search(as_text(line))
        if match is None:
            raise DecodeError(f"line does not match {self.pattern!r}", kind=GARBAGE)
        found = [
            (name, value)
            for name, text in match.groupdict().items()
            if text is not None and (value := parse_number(text)) is not None
        ]
        if not found:
            raise DecodeError("no named group holds a number", kind=GARBAGE)
        return self.options.apply(found)
