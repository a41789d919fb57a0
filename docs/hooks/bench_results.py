"""The performance page's results: bench/RESULTS.md itself, as ``python -m bench --record``
and ``python -m bench.soak`` write it, so the page cannot drift from the recorded runs."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["render"]

TITLE = re.compile(r"\A# [^\n]*\n+")


def render(results: Path) -> str:
    """RESULTS.md without its own title (the page has one); its sections stay level 2 and 3."""
    return TITLE.sub("", results.read_text(encoding="utf-8"), count=1)
