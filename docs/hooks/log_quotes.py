"""Check that the log and error lines quoted in the docs are ones the code really prints.

A page quotes messages in fenced blocks marked ``log``. Each line must be *explained* by the
string templates of the code (every string literal, f-string and %-format string under the
given source folders): a template matches the whole line, and each of its placeholders holds
either a plain value (no white space: a path, a number, a name), another explained message, or
text marked «like this» as coming from outside our code (the OS, a library). The marks are
removed when the page is rendered. A line no template explains is a problem the hook reports,
so a message that changes in the code fails ``mkdocs build --strict`` until the docs follow.

The logger a quoted log line names must be one the code has. A log line may start with the
terminal's ``2026-11-25 10:00:00.123 WARNING gateway.device: ``
prefix (timestamp optional) or the journal's ``<4>gateway.device: ``, then a device's
``[kitchen] ``; `` ...`` ends a quote that continues. A one-word label before an explained
message is accepted: the kind of a counted error (``checksum: ...``) or an exception's class
(``DeviceUnavailable: ...``). A template needs a word in its literal
text: ``"%s: %s"`` explains nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Catalog", "quoted_lines", "strip_marks"]

HOLE = None
FENCE = re.compile(r"^(?P<indent> *)```log[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
FOREIGN = re.compile(r"«[^»]*»")
PREFIX = re.compile(
    r"^(?:(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3})? )?"
    r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) +(?P<logger>[\w.]+): |<\d>(?P<journal>[\w.]+): )?"
    r"(?:\[[^\]\s]+\] )?")  # a device's log lines start with [device-id]
WORD = re.compile(r"[A-Za-z]{2}")
LABEL = re.compile(r"[^\s:]+: ")
PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdrfgiexXc]|%%")
BRACES = re.compile(r"\{[^{}\s]*\}")
ELLIPSIS = ("...", "…")

Part = str | None  # a literal piece, or HOLE
Fills = Callable[[str], bool]


@dataclass(frozen=True)
class Template:
    parts: tuple[Part, ...]

    @property
    def literal(self) -> int:
        return sum(len(p) for p in self.parts if p is not None)

    def fits(self, text: str) -> bool:
        """Every literal piece occurs in ``text``, in order (a cheap pre-filter)."""
        at = 0
        for part in self.parts:
            if part:
                at = text.find(part, at)
                if at < 0:
                    return False
                at += len(part)
        return True


def _split(text: str, pattern: re.Pattern[str]) -> list[Part]:
    parts: list[Part] = []
    at = 0
    for m in pattern.finditer(text):
        parts.append(text[at:m.start()])
        parts.append("%" if m.group() == "%%" else HOLE)
        at = m.end()
    parts.append(text[at:])
    return _merge(parts)


def _merge(parts: Iterable[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if part == "":
            continue
        if part is not None and out and out[-1] is not None:
            out[-1] = out[-1] + part
        else:
            out.append(part)
    return out


def _from_node(node: ast.expr) -> list[Part] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _split(node.value, PERCENT) if "%" in node.value else _split(node.value, BRACES)
    if isinstance(node, ast.JoinedStr):
        parts: list[Part] = []
        for value in node.values:
            text = value.value if isinstance(value, ast.Constant) else None
            parts.append(text if isinstance(text, str) else HOLE)
        return _merge(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _from_node(node.left), _from_node(node.right)
        if left is not None or right is not None:  # "devices: " + ", ".join(parts)
            return _merge([*(left or [HOLE]), *(right or [HOLE])])
    return None


def _first_line(parts: list[Part]) -> list[Part]:
    """A message's first line (a quote holds one line): what follows a newline is a hole."""
    for i, part in enumerate(parts):
        if part is not None and "\n" in part:
            head = part.split("\n", 1)[0]
            return _merge([*parts[:i], head, HOLE])
    return parts


def _loggers(root: Path, path: Path, tree: ast.Module) -> Iterator[str]:
    """The names of the loggers a module gets: ``getLogger("name")`` or ``getLogger(__name__)``
    (the module's dotted name, ``root`` being a top-level package)."""
    module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(
        ".__init__")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value
            elif isinstance(arg, ast.Name) and arg.id == "__name__":
                yield module


def _templates(tree: ast.Module) -> Iterator[Template]:
    for node in ast.walk(tree):
        if isinstance(node, ast.expr):
            parts = _from_node(node)
            if parts is None:
                continue
            for one in (parts, _first_line(parts)):
                if any(p is not None and WORD.search(p) for p in one):
                    yield Template(tuple(one))  # a template needs a word: "%s: %s" explains nothing


class Catalog:
    """Every message template of the code under ``roots``."""

    def __init__(self, roots: Iterable[Path]) -> None:
        files = [(root, f) for root in roots for f in sorted(root.rglob("*.py"))]
        trees = [(root, f, ast.parse(f.read_text(encoding="utf-8"))) for root, f in files]
        found = {t for _, _, tree in trees for t in _templates(tree)}
        self.templates = sorted(found, key=lambda t: -t.literal)
        self.loggers = {name for root, f, tree in trees for name in _loggers(root, f, tree)}
        self._memo: dict[tuple[str, int], bool] = {}

    def check(self, line: str) -> bool:
        """Is this quoted line something the code prints (from a logger the code has)?"""
        prefix = PREFIX.match(line.strip())
        assert prefix is not None  # every part of it is optional
        logger = prefix.group("logger") or prefix.group("journal")
        if logger is not None and logger not in self.loggers:
            return False
        text = line.strip()[prefix.end():]
        for mark in ELLIPSIS:
            text = text.removesuffix(" " + mark).removesuffix(mark)
        if not text:
            return False
        return self.explains(text, 0)

    def explains(self, text: str, depth: int) -> bool:
        if depth > 4:
            return False
        key = (text, depth)
        if key not in self._memo:
            label = LABEL.match(text)  # "checksum: ..." (a counted error), "DeviceUnavailable: ..."
            self._memo[key] = (
                any(_match(t.parts, text, lambda c: self._fills(c, depth))
                    for t in self.templates if t.fits(text))
                or bool(label and self.explains(text[label.end():], depth + 1))
                or self._joined(text, depth))
        return self._memo[key]

    def _joined(self, text: str, depth: int) -> bool:
        """Two messages written one after the other ("%s%s"): a head, then a template that
        starts with its literal text (``detail + f" ({n} since the last report)"``)."""
        for t in self.templates:
            head = t.parts[0]
            if head is None or not t.fits(text):
                continue
            at = text.find(head, 1)
            while at > 0:
                if _match(t.parts, text[at:], lambda c: self._fills(c, depth)) and \
                        self._fills(text[:at], depth):
                    return True
                at = text.find(head, at + 1)
        return False

    def _fills(self, capture: str, depth: int) -> bool:
        bare = FOREIGN.sub("", capture)
        if not any(ch.isspace() for ch in bare) or bare.strip() in ELLIPSIS:
            return True
        return self.explains(capture, depth + 1)


def _match(parts: tuple[Part, ...], text: str, fills: Fills) -> bool:
    if not parts:
        return not text
    head, rest = parts[0], parts[1:]
    if head is not None:
        return text.startswith(head) and _match(rest, text[len(head):], fills)
    if not rest:
        return fills(text)
    return any(fills(text[:end]) and _match(rest, text[end:], fills)
               for end in _ends(rest[0], text))


def _ends(following: Part, text: str) -> Iterator[int]:
    """Where a placeholder may end: before each occurrence of the literal after it."""
    if following is None:
        yield from range(len(text) + 1)
        return
    at = text.find(following)
    while at >= 0:
        yield at
        at = text.find(following, at + 1)


def quoted_lines(markdown: str) -> Iterator[str]:
    """The lines of every ``log`` block of a page."""
    for block in FENCE.finditer(markdown):
        indent = len(block.group("indent"))
        for line in block.group("body").splitlines():
            if line.strip():
                yield line[indent:]


def strip_marks(markdown: str) -> str:
    """The page as readers see it: «foreign» marks removed inside ``log`` blocks."""
    return FENCE.sub(lambda m: m.group().replace("«", "").replace("»", ""), markdown)
