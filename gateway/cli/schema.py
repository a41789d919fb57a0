"""``sensor-gateway schema``: the config file's JSON Schema, for editor completion and checks.

Generated from the same pydantic models that validate the file (every driver kind, built-in or
registered, in the ``devices`` union, discriminated by ``driver``). A few shorthands the models
accept before validation (a simulated sensor given by its profile name, serial parity given as
a word) are described by the driver models themselves (``json_schema_extra``). The schema
checks structure and types; ``sensor-gateway check`` remains the authority (cross-field rules,
files, duplicate ids).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "json_schema", "run"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _require_driver(schema: dict[str, Any]) -> None:
    """The daemon needs ``driver`` in every device table (it picks the model)."""
    union = schema["properties"]["devices"]["items"]
    for ref in union.get("discriminator", {}).get("mapping", {}).values():
        model = schema["$defs"][ref.rsplit("/", 1)[1]]
        model["required"] = sorted({*model.get("required", []), "driver"})


def json_schema() -> dict[str, Any]:
    """The whole file's schema (JSON Schema draft 2020-12)."""
    from gateway.config import _settings_class  # noqa: PLC0415

    schema = _settings_class().model_json_schema()
    schema["title"] = "sensor-gateway configuration"
    _require_driver(schema)
    return {"$schema": DIALECT, **schema}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("schema", help="print the config file's JSON Schema (for editors)")


def run(args: argparse.Namespace) -> int:
    del args
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0
