"""docs/drivers/ble-models.md lists exactly the models the decoders know, and at least 40 of them."""

from __future__ import annotations

import re
from pathlib import Path

from drivers.ble.decoders import DECODERS
from drivers.ble.decoders._registry import supported_models

DOC = Path(__file__).resolve().parents[2] / "docs" / "drivers" / "ble-models.md"
ROW = re.compile(r"^\| (?P<maker>[^|]+) \| (?P<model>[^|]+) \| `(?P<decoder>[a-z]+)` \|")


def documented() -> set[tuple[str, str | None, str]]:
    rows = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            model = re.sub(r" \(.*\)$", "", match["model"].strip())  # "HHCCJCY01 (MiFlora)"
            rows.add((match["decoder"], match["maker"].strip(), model))
    return rows


def test_the_models_table_matches_the_decoders() -> None:
    rows = documented()
    assert {decoder for decoder, _, _ in rows} <= set(DECODERS)
    assert rows == supported_models()


def test_at_least_40_models() -> None:
    models = {(maker, model) for _, maker, model in supported_models()}
    assert len(models) >= 40, len(models)
