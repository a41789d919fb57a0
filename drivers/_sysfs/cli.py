"""What the sysfs kinds' ``scan`` commands share: a plain table, TOML strings, unique ids and the
``--root`` / ``--json`` options."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

__all__ = ["add_root_arguments", "device_id", "print_json", "table", "toml_string"]


def add_root_arguments(parser: argparse.ArgumentParser, *, proc: bool = False) -> None:
    parser.add_argument("--root", default="/sys",
                        help="where sysfs is mounted (default /sys; a container: the host's)")
    if proc:
        parser.add_argument("--proc", default="/proc",
                            help="where procfs is mounted (default /proc)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column as it is."""
    every = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in every) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]])
                     .rstrip() for r in every)


def toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m[0]):04x}", escaped)
    return f'"{escaped}"'


def device_id(base: str, taken: set[str]) -> str:
    """``base``, else ``base-2``, ``base-3``...: an id not in ``taken`` (which it extends)."""
    clean = re.sub(r"[^a-z0-9_-]+", "_", base.lower()).strip("_") or "device"
    name, n = clean, 2
    while name in taken:
        name, n = f"{clean}-{n}", n + 1
    taken.add(name)
    return name


def print_json(found: Any) -> int:  # noqa: ANN401 - a dataclass or a list of them
    """``--json``: the scan's dataclasses as JSON on stdout; the exit code."""
    body = [asdict(f) for f in found] if isinstance(found, list) else asdict(found)
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0
