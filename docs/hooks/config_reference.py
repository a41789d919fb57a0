"""The configuration reference page, generated from the config file's JSON Schema.

The schema is the one ``sensor-gateway schema`` prints (built from the pydantic models that
validate the file), so the page lists exactly the keys the daemon accepts. Each key gets a row:
its name (with an HTML id, ``key-<path>``), type, default and description. A description comes
from the model (``Field(description=...)``) when it has one, else from
``config_descriptions.toml`` beside this file; a key without either, or an entry there naming no
key, is a problem the hook reports (a warning, which fails ``mkdocs build --strict``).

Key paths: ``mqtt.host``; ``devices.*.layout`` for a key every driver kind has alike (listed in
the "every driver kind" table, and again in a kind's own table when the kind has a description
of its own for it, ``devices.ble.interval``); ``devices.serial.port`` for a kind's own;
``devices.serial.registers[].name`` inside a list of tables;
``devices.simulated.faults.raise_every`` inside a table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reference", "anchor", "render"]

Schema = dict[str, Any]
COMMON = "*"


def anchor(path: str) -> str:
    """The HTML id of a key's row: ``devices.serial.registers[].name`` ->
    ``key-devices-serial-registers-name``."""
    parts = [p for p in path.replace("[]", "").split(".") if p != COMMON]
    return "key-" + "-".join(parts)


@dataclass
class Reference:
    """The rendered page and what is wrong with the descriptions."""

    markdown: str
    paths: list[str]
    problems: list[str] = field(default_factory=list)


@dataclass
class _Section:
    title: str
    ident: str
    intro: str
    rows: list[tuple[str, str, Schema, bool]]  # (path, key, schema, required)


class _Walker:
    def __init__(self, schema: Schema, descriptions: dict[str, str]) -> None:
        self.defs: dict[str, Schema] = schema.get("$defs", {})
        self.descriptions = descriptions
        self.used: set[str] = set()
        self.problems: list[str] = []
        self.sections: list[_Section] = []

    def resolve(self, node: Schema) -> Schema:
        ref = node.get("$ref")
        return self.defs[ref.rsplit("/", 1)[1]] if ref else node

    def table(self, title: str, path: str, node: Schema,
              skip: frozenset[str] = frozenset()) -> None:
        """A section for the table ``node`` at ``path``, then one for each table inside it."""
        model = self.resolve(node)
        required = set(model.get("required", []))
        props = {k: v for k, v in model.get("properties", {}).items() if k not in skip}
        rows = [(f"{path}.{key}", key, value, key in required) for key, value in props.items()]
        intro = self.descriptions.get(path)
        if intro is not None:
            self.used.add(path)
        self.sections.append(_Section(title, anchor(path)[4:], intro or _text(model), rows))
        for key, value in props.items():
            self.nested(f"{path}.{key}", title, key, value)

    def nested(self, path: str, parent: str, key: str, node: Schema) -> None:
        inner = _without_null(node)
        if _is_table(inner):
            self.table(f"{parent}: `{key}`", path, inner)
        elif inner.get("type") == "array":
            item = _table_in(inner.get("items", {}))
            if item is not None:
                self.table(f"{parent}: `{key}[]`", f"{path}[]", item)

    def description(self, path: str, node: Schema) -> str:
        """A kind's own entry here, else the model's description (a key every kind inherits
        from the SDK carries one), else a shared entry here."""
        own = node.get("description") or self.resolve(_without_null(node)).get("description")
        specific, *shared = _candidates(path)
        if specific in self.descriptions:
            self.used.add(specific)
            return self.descriptions[specific]
        if own and not _is_table(_without_null(node)):
            return str(own)
        for candidate in shared:
            if candidate in self.descriptions:
                self.used.add(candidate)
                return self.descriptions[candidate]
        if own:
            return str(own)
        self.problems.append(f"configuration key {path} has no description "
                             f"(add Field(description=...) to its model)")
        return ""


def _candidates(path: str) -> list[str]:
    parts = path.split(".")
    if len(parts) > 2 and parts[0] == "devices" and parts[1] != COMMON:
        return [path, ".".join(["devices", COMMON, *parts[2:]])]
    return [path]


def _text(model: Schema) -> str:
    return " ".join(str(model.get("description", "")).replace("``", "`").split())


def _without_null(node: Schema) -> Schema:
    options = node.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            return {**node, **rest[0], "anyOf": None}
    return node


def _is_table(node: Schema) -> bool:
    return "$ref" in node


def _table_in(items: Schema) -> Schema | None:
    if "$ref" in items:
        return items
    return next((o for o in items.get("anyOf", []) if "$ref" in o), None)


# --- cells -----------------------------------------------------------------------------------

def type_text(node: Schema) -> str:  # noqa: PLR0911 - one case per JSON Schema shape
    if node.get("anyOf"):
        return " or ".join(type_text(o) for o in node["anyOf"] if o.get("type") != "null")
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in node["enum"])
    if "$ref" in node:
        return "table (below)"
    kind = node.get("type")
    if kind == "array":
        least = "non-empty " if node.get("minItems") else ""
        return f"{least}list of {_plural(type_text(node.get('items', {})))}"
    if kind == "object":
        return f"table of name = {type_text(node.get('additionalProperties', {}))}"
    if kind in ("number", "integer"):
        return " ".join([kind, *_bounds(node)])
    if kind == "string":
        return {"password": "string (a secret)", "path": "path"}.get(node.get("format", ""),
                                                                      "string")
    return str(kind or "any")


def _plural(text: str) -> str:
    return "tables (below)" if text == "table (below)" else text


def _bounds(node: Schema) -> list[str]:
    if "minimum" in node and "maximum" in node:
        return [f"{_number(node['minimum'])} .. {_number(node['maximum'])}"]
    marks = {"exclusiveMinimum": ">", "minimum": ">=", "exclusiveMaximum": "<", "maximum": "<="}
    out = [f"{sign} {_number(node[key])}" for key, sign in marks.items() if key in node]
    return [", ".join(out)] if out else []


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def default_text(node: Schema, required: bool) -> str:
    if required:
        return "**required**"
    if "default" in node:
        return "unset" if node["default"] is None else f"`{_toml(node['default'])}`"
    inner = _without_null(node)
    if inner.get("type") == "array":
        return "`[]`"
    if inner.get("type") == "object" or "$ref" in inner:
        return "`{}`"
    return "*see description*"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- the page --------------------------------------------------------------------------------

def _kinds(walker: _Walker, devices: Schema) -> dict[str, Schema]:
    mapping = devices.get("items", {}).get("discriminator", {}).get("mapping", {})
    return {kind: walker.resolve({"$ref": ref}) for kind, ref in sorted(mapping.items())}


def _common(kinds: dict[str, Schema]) -> set[str]:
    """Keys every kind has, with the same schema (``driver`` aside, which names the kind)."""
    if len(kinds) < 2:
        return set()

    def same(key: str) -> bool:
        shapes = {json.dumps(m["properties"].get(key), sort_keys=True) for m in kinds.values()}
        return len(shapes) == 1 and "null" not in shapes

    first = next(iter(kinds.values()))
    return {k for k in first["properties"] if same(k)}


def _device_sections(walker: _Walker, devices: Schema) -> None:
    kinds = _kinds(walker, devices)
    common = _common(kinds)
    first: Schema = next(iter(kinds.values()), {"properties": {}})
    shared = {k: v for k, v in first["properties"].items() if k in common}
    if "id" in shared:  # id, then driver, then the rest, as a device table usually starts
        shared = {"id": shared.pop("id"), **shared}
    driver = {"driver": {"type": "string", "enum": list(kinds)}}
    every = {"properties": {**dict(list(shared.items())[:1]), **driver,
                            **dict(list(shared.items())[1:])},
             "required": ["driver"] + [k for k in first.get("required", []) if k in common]}
    walker.table("`[[devices]]`: every driver kind", f"devices.{COMMON}", every)
    for kind, model in kinds.items():
        own = {key for key in common if f"devices.{kind}.{key}" in walker.descriptions}
        walker.table(f'`[[devices]]` with `driver = "{kind}"`', f"devices.{kind}", model,
                     skip=frozenset((common - own) | {"driver"}))


def _render_section(walker: _Walker, section: _Section) -> str:
    lines = [f"## {section.title} {{#{section.ident}}}", ""]
    if section.intro:
        lines += [section.intro, ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for path, key, node, required in section.rows:
        name = f'<code id="{anchor(path)}">{key}</code>'
        cells = [name, type_text(_without_null(node)),
                 default_text(node, required), walker.description(path, node)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def render(schema: Schema, descriptions: dict[str, str]) -> Reference:
    """The reference's markdown: one section per table of the file."""
    walker = _Walker(schema, descriptions)
    props = schema.get("properties", {})
    for name, node in props.items():
        if name != "devices":
            walker.table(f"`[{name}]`", name, node)
    if "devices" in props:
        _device_sections(walker, props["devices"])
    body = "\n\n".join(_render_section(walker, s) for s in walker.sections)
    paths = [path for s in walker.sections for path, *_ in s.rows]
    orphans = sorted(set(descriptions) - walker.used)
    walker.problems += [f"config_descriptions.toml: {key} names no configuration key"
                        for key in orphans]
    return Reference(body + "\n", paths, walker.problems)
