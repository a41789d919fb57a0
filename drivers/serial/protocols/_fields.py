"""Field post-processing shared by the line protocols (json, csv, kv, regex).

A line protocol turns a line into ``(field, number)`` pairs; :meth:`FieldOptions.apply`
turns those into measurements. Every map and list is keyed by the *source* field name as
it appears in the line (after JSON flattening), never by the renamed name. In order:

1. ``include`` (if given) keeps only the listed fields, then ``exclude`` drops fields;
2. ``value * scale[field] + offset[field]`` (defaults 1 and 0);
3. the result must be finite (else ``DecodeError(kind="out_of_range")`` for the line);
4. ``rename[field]`` gives the published name (default: the field name), ``units[field]``
   the unit (default None). Fields with an empty name are skipped; if two fields end up
   with the same published name, the later one wins.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from gateway.sdk import Measurement

from ._common import checked

__all__ = ["FieldOptions"]

_V = TypeVar("_V")


def _frozen_map(value: Mapping[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class FieldOptions:
    """Per-field units, scale, offset, rename and include/exclude (all keyed by source name)."""

    units: Mapping[str, str] = field(default_factory=dict)
    scale: Mapping[str, float] = field(default_factory=dict)
    offset: Mapping[str, float] = field(default_factory=dict)
    rename: Mapping[str, str] = field(default_factory=dict)
    include: Collection[str] | None = None
    exclude: Collection[str] = ()

    def __post_init__(self) -> None:
        for name in ("units", "scale", "offset", "rename"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        if self.include is not None:
            object.__setattr__(self, "include", frozenset(self.include))
        object.__setattr__(self, "exclude", frozenset(self.exclude))
        self._validate()

    def _validate(self) -> None:
        for kind in ("scale", "offset"):
            for name, number in getattr(self, kind).items():
                if not math.isfinite(number):
                    raise ValueError(f"{kind}[{name!r}] must be a finite number, not {number!r}")
        for old, new in self.rename.items():
            if not new:
                raise ValueError(f"rename[{old!r}] must not be empty")

    def wants(self, name: str) -> bool:
        """Whether field ``name`` passes include/exclude."""
        if self.include is not None and name not in self.include:
            return False
        return name not in self.exclude

    def apply(self, fields: Iterable[tuple[str, float]]) -> list[Measurement]:
        """Measurements for the wanted, non-empty-named fields (see the module docstring)."""
        out: dict[str, Measurement] = {}
        for name, raw in fields:
            if not name or not self.wants(name):
                continue
            value = raw * self.scale.get(name, 1.0) + self.offset.get(name, 0.0)
            published = self.rename.get(name, name)
            out[published] = checked(published, value, self.units.get(name))
        return list(out.values())
