"""MkDocs hook (``hooks:`` in mkdocs.yml): the pages built from the code.

- ``<!-- generated: configuration-reference -->``: every configuration key, from the config
  file's JSON Schema (``sensor-gateway schema``), with ``config_descriptions.toml`` beside this
  file for the descriptions the models do not carry yet (config_reference.py).
- ``<!-- generated: bench-results -->``: bench/RESULTS.md (bench_results.py).
- Every ``log`` block of every page: each line must be a message the code prints
  (log_quotes.py).
- Every built-in driver kind has its page, ``drivers/<kind>.md``, in the nav.

Problems are logged as warnings, so ``mkdocs build --strict`` fails on them.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import bench_results
import config_reference
import log_quotes
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DESCRIPTIONS = HERE / "config_descriptions.toml"
CONFIG_MARK = "<!-- generated: configuration-reference -->"
BENCH_MARK = "<!-- generated: bench-results -->"

log = get_plugin_logger("sitegen")
_catalog: log_quotes.Catalog | None = None


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the gateway package, when mkdocs runs from elsewhere
    return config


def schema() -> dict[str, Any]:
    """The same schema ``sensor-gateway schema`` prints."""
    from gateway.cli.schema import json_schema  # noqa: PLC0415 - after on_config's path

    return json_schema()


def configuration_reference() -> config_reference.Reference:
    descriptions = tomllib.loads(DESCRIPTIONS.read_text(encoding="utf-8"))
    return config_reference.render(schema(), descriptions)


def catalog() -> log_quotes.Catalog:
    global _catalog  # noqa: PLW0603 - one scan of the sources per build
    if _catalog is None:
        _catalog = log_quotes.Catalog([REPO / "gateway", REPO / "drivers"])
    return _catalog


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    del config, files
    if CONFIG_MARK in markdown:
        reference = configuration_reference()
        for problem in reference.problems:
            log.warning(problem)
        markdown = markdown.replace(CONFIG_MARK, reference.markdown)
    if BENCH_MARK in markdown:
        markdown = markdown.replace(BENCH_MARK, bench_results.render(REPO / "bench" / "RESULTS.md"))
    for line in log_quotes.quoted_lines(markdown):
        if not catalog().check(line):
            log.warning(f"{page.file.src_uri}: quoted message not found in the code: {line}")
    return log_quotes.strip_marks(markdown)


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    del config, files
    from gateway.core import registry  # noqa: PLC0415

    in_nav = {page.file.src_uri for page in nav.pages}
    for kind in sorted(registry.BUILTIN):
        if f"drivers/{kind}.md" not in in_nav:
            log.warning(f"driver kind {kind!r} has no page: add docs/drivers/{kind}.md "
                        f"and one line for it under Drivers in mkdocs.yml's nav")
    return nav
