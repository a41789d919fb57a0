"""The import graph of gateway/ and drivers/: no cycles, and dependencies point one way.

Every import counts: module level, inside ``if TYPE_CHECKING:`` and inside functions (a lazy
import is still a dependency). ``from package import name`` counts as an import of
``package.name`` when that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "drivers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle, as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = _cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_drivers_import_only_the_sdk_from_the_core() -> None:
    wrong = {f"{name} -> {dep}" for name, deps in graph().items() if name.startswith("drivers")
             for dep in deps if dep.startswith("gateway") and dep not in ("gateway", "gateway.sdk")}
    assert not wrong, sorted(wrong)


def test_the_core_never_imports_a_driver() -> None:
    wrong = {f"{name} -> {dep}" for name, deps in graph().items() if name.startswith("gateway")
             for dep in deps if dep.startswith("drivers")}
    assert not wrong, sorted(wrong)


def test_the_sdk_stands_on_the_core_leaves_only() -> None:
    """What a driver imports pulls in no daemon machinery (publisher, buffer, config...)."""
    edges = graph()
    reach: set[str] = set()
    todo = ["gateway.sdk"]
    while todo:
        for dep in edges[todo.pop()] - reach:
            reach.add(dep)
            todo.append(dep)
    heavy = {m for m in reach if m.startswith(("gateway.mqtt", "gateway.delivery", "gateway.ops",
                                               "gateway.cli", "gateway.config", "gateway.daemon"))}
    assert not heavy, sorted(heavy)


def test_gateway_top_level_stays_small() -> None:
    modules = [p for p in (REPO / "gateway").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 12, sorted(p.name for p in modules)
