"""The documentation: the site builds with ``mkdocs build --strict``, the configuration reference
lists every key of the config schema, the quoted log messages are the code's, and the README is
a landing page that starts with the two commands.

The site is built once for the module (a couple of seconds) by the real mkdocs with the real
hook, as ``mkdocs build --strict`` from the repository root.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.components import require
from support.daemon import REPO
from support.entrypoints import register_example

HOOKS = REPO / "docs" / "hooks"
README_LIMIT = 10_000
FIRST_COMMAND = (
    "sudo apt-get install -y python3-venv && python3 -m venv .venv && .venv/bin/pip install "
    "'.[broker]' && .venv/bin/sensor-gateway run --config config.example.toml")
SECOND_COMMAND = (
    "sudo apt-get update && sudo apt-get install -y python3-venv python3-dev build-essential "
    "pkg-config mosquitto mosquitto-clients dbus libdbus-1-dev libglib2.0-dev libmosquitto-dev "
    "systemd debootstrap systemd-container && python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
    ".venv/bin/python -m pytest")
ROW = re.compile(r'<tr>\s*<td><code id="(key-[^"]+)">([^<]+)</code></td>\s*'
                 r"<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", re.S)


def _need_mkdocs() -> None:
    for module in ("mkdocs", "material"):
        require(module, importlib.util.find_spec(module) is not None, "pip install '.[docs]'")


def build(root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of the project at ``root``, as a user runs it from there."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_mkdocs()
    out = tmp_path_factory.mktemp("site")
    result = build(REPO, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


# --- the site ----------------------------------------------------------------------------------

def test_the_site_builds_strict_with_every_page(site: Path) -> None:
    for name in ("getting-started", "first-sensor", "hardware", "troubleshooting",
                 "drivers/serial", "drivers/ble", "drivers/simulated", "homeassistant",
                 "reference/configuration", "performance", "development/writing-a-driver"):
        assert "<h1" in page(site, name), name
    assert (site / "index.html").exists()


def test_the_performance_page_is_bench_results(site: Path) -> None:
    text = page(site, "performance")
    results = (REPO / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    runs = re.findall(r"^### (\d{4}-\d\d-\d\d \d\d:\d\d UTC)$", results, re.M)
    assert runs, "bench/RESULTS.md lists its runs"
    for run in runs:  # every recorded run is on the page, the newest too
        assert run in text, run


def test_the_worked_example_is_the_tested_file(site: Path) -> None:
    text = html.unescape(re.sub(r"<[^>]+>", "", page(site, "development/writing-a-driver")))
    source = (REPO / "docs" / "examples" / "tcp_sensor.py").read_text(encoding="utf-8")
    for line in source.splitlines():
        assert line.strip() in text, line


# --- the configuration reference ---------------------------------------------------------------

def schema() -> dict[str, Any]:
    from gateway.cli.schema import json_schema

    return json_schema()


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    return node


def _tables_in(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The tables a key holds: itself (``""``) or its list items (``"[]"``)."""
    options = [node, *node.get("anyOf", [])]
    for option in options:
        if "$ref" in option:
            yield "", option
        items = option.get("items", {})
        for item in [items, *items.get("anyOf", [])]:
            if "$ref" in item:
                yield "[]", item


def schema_keys(node: dict[str, Any], defs: dict[str, Any], path: list[str]) -> Iterator[
        tuple[list[str], str]]:
    """Every key of a table and of the tables inside it: (path, key)."""
    for key, value in _resolve(node, defs).get("properties", {}).items():
        yield path, key
        for mark, table in _tables_in(value):
            yield from schema_keys(table, defs, [*path, key + mark])


def every_key() -> list[tuple[str, list[str], str]]:
    """(section, path, key) for every key of the file; devices per driver kind."""
    s = schema()
    defs = s["$defs"]
    found = [(name, p, k) for name, node in s["properties"].items() if name != "devices"
             for p, k in schema_keys(node, defs, [name])]
    mapping = s["properties"]["devices"]["items"]["discriminator"]["mapping"]
    assert set(mapping) >= {"simulated", "serial", "ble"}
    for kind, ref in mapping.items():
        found += [(kind, p, k) for p, k in schema_keys({"$ref": ref}, defs, ["devices", kind])]
    return found


def _anchor(path: list[str], key: str) -> str:
    return "key-" + "-".join([*(p.removesuffix("[]") for p in path), key])


def reference_rows(site: Path) -> dict[str, tuple[str, str, str, str]]:
    rows = ROW.findall(page(site, "reference/configuration"))
    return {ident: (name, html.unescape(kind), html.unescape(default), html.unescape(text))
            for ident, name, kind, default, text in rows}


def test_every_schema_key_is_in_the_configuration_reference(site: Path) -> None:
    rows = reference_rows(site)
    keys = every_key()
    assert len(keys) > 100  # the whole file: sections, every kind, nested tables
    for _section, path, key in keys:
        own = _anchor(path, key)
        shared = _anchor(path[:1], key) if len(path) == 2 and path[0] == "devices" else own
        row = rows.get(own) or rows.get(shared)
        assert row is not None, f"{'.'.join(path)}.{key} is not in the reference"
        name, kind, _default, text = row
        assert name == key
        assert kind.strip() and re.sub(r"<[^>]+>", "", text).strip(), f"{own}: no type/text"


def test_the_reference_gives_types_and_defaults_from_the_models(site: Path) -> None:
    rows = reference_rows(site)
    assert rows["key-mqtt-port"][1:3] == ("integer 1 .. 65535", "<code>1883</code>")
    assert rows["key-mqtt-host"][2] == '<code>"localhost"</code>'
    assert rows["key-devices-serial-port"][2] == "<strong>required</strong>"
    assert rows["key-buffer-path"][2] == "unset"
    assert '<code>"drop_oldest"</code>' in rows["key-buffer-overflow"][1]
    assert rows["key-devices-driver"][1].count("<code>") >= 3  # every kind


def test_a_third_party_kind_is_documented_from_its_own_model(tmp_path: Path) -> None:
    """The reference follows the registry: an installed kind's keys appear with the
    descriptions its model gives (the example driver, registered by a real entry point)."""
    _need_mkdocs()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), str(HOOKS), str(REPO / "docs" / "examples"), str(register_example(tmp_path))])}
    code = ("import sitegen; r = sitegen.configuration_reference(); "
            "print(r.markdown); print('PROBLEMS', r.problems)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert '`[[devices]]` with `driver = "tcp-sensor"`' in result.stdout
    assert '<code id="key-devices-tcp-sensor-host">host</code>' in result.stdout
    assert "The sensor's TCP port." in result.stdout
    assert "PROBLEMS []" in result.stdout


# --- what the build refuses --------------------------------------------------------------------

def test_broken_links_missing_pages_and_stale_messages_fail_the_build(tmp_path: Path) -> None:
    """A copy of the docs with one fault of each kind: the strict build fails and names each."""
    _need_mkdocs()
    root = tmp_path / "repo"
    for name in ("docs", "gateway", "drivers"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "mkdocs.yml", root)
    (root / "bench").mkdir()
    shutil.copy(REPO / "bench" / "RESULTS.md", root / "bench")
    docs = root / "docs"
    with (docs / "index.md").open("a") as fh:
        fh.write("\n[gone](no-such-page.md) and [no anchor](topics.md#no-such-section)\n\n"
                 "```log\nWARNING gateway.publisher: broker gone away forever\n```\n")
    (docs / "orphan.md").write_text("# Not in the nav\n")
    descriptions = docs / "hooks" / "config_descriptions.toml"
    descriptions.write_text(descriptions.read_text().replace('"mqtt.keepalive" =', '"mqtt.kept" ='))
    result = build(root, tmp_path / "site")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no-such-page.md" in out
    assert "#no-such-section" in out
    assert "orphan.md" in out
    assert "quoted message not found in the code: WARNING gateway.publisher: broker gone" in out
    assert "configuration key mqtt.keepalive has no description" in out
    assert "config_descriptions.toml: mqtt.kept names no configuration key" in out


# --- the quoted-message check ------------------------------------------------------------------

@pytest.fixture(scope="module")
def log_quotes() -> Any:
    sys.path.insert(0, str(HOOKS))
    try:
        import log_quotes
    finally:
        sys.path.remove(str(HOOKS))
    return log_quotes


SOURCE = '''
import logging
log = logging.getLogger("x")
device_log = logging.getLogger("gateway.device")
reload_log = logging.getLogger("gateway.reload")
module_log = logging.getLogger(__name__)

def f(port, exc, delay, reason, n):
    log.warning("offline: %s", reason)
    raise OSError(f"cannot open {port}: {exc}")
    log.info(f"{reason}; restarting in {delay:.1f}s")
    log.warning("outbox %s is in use by another process", port)
    log.error("reload rejected, keeping the running config:\\n%s", reason)
    more = f" ({n} since the last report)"
'''


def catalog(tmp_path: Path, log_quotes: Any) -> Any:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text(SOURCE)
    return log_quotes.Catalog([tmp_path / "src"])


@pytest.mark.parametrize("line", [
    "WARNING x: outbox /var/lib/o.db is in use by another process",
    "2026-11-25 10:00:00.123 WARNING gateway.device: [air] offline: cannot open /dev/ttyUSB0: "
    "«[Errno 13] Permission denied: '/dev/ttyUSB0'»; restarting in 0.5s",
    "<4>gateway.device: [air] offline: DeviceUnavailable: cannot open /dev/x: «gone»; "
    "restarting in 0.5s",
    "ERROR   gateway.reload: reload rejected, keeping the running config:",
    "[air] checksum: cannot open /dev/x: «bad» (3 since the last report)",
    "outbox /o.db is in use by another process ...",
    "INFO    src.m: outbox /o.db is in use by another process",  # getLogger(__name__)
])
def test_a_message_the_code_prints_is_accepted(tmp_path: Path, log_quotes: Any,
                                               line: str) -> None:
    assert catalog(tmp_path, log_quotes).check(line)


@pytest.mark.parametrize("line", [
    "WARNING x: outbox /var/lib/o.db is used by another process",  # the wording changed
    "WARNING nobody: outbox /var/lib/o.db is in use by another process",  # no such logger
    "offline: could not open /dev/ttyUSB0: «[Errno 13] Permission denied»; restarting in 0.5s",
    "offline: cannot open /dev/x: [Errno 13] Permission denied; restarting in 0.5s",  # unmarked
    "offline: something else entirely",
    "",
])
def test_a_message_the_code_does_not_print_is_refused(tmp_path: Path, log_quotes: Any,
                                                      line: str) -> None:
    assert not catalog(tmp_path, log_quotes).check(line)


def test_marks_are_removed_from_log_blocks_only(log_quotes: Any) -> None:
    text = "a «b»\n\n```log\nx «y» z\n```\n"
    assert log_quotes.strip_marks(text) == "a «b»\n\n```log\nx y z\n```\n"
    assert list(log_quotes.quoted_lines("    ```log\n    one\n    ```\n")) == ["one"]


# --- the README --------------------------------------------------------------------------------

def test_the_readme_is_a_landing_page_that_starts_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text) <= README_LIMIT, f"README.md has {len(text)} characters"
    blocks = re.findall(r"```sh\n(.*?)\n```", text, re.S)
    assert blocks[:2] == [FIRST_COMMAND, SECOND_COMMAND]
    before = text[: text.index("```sh")]
    assert before.startswith("# sensor-gateway\n") and before.count("\n") <= 4
    between = text[text.index(FIRST_COMMAND): text.index(SECOND_COMMAND)]
    assert "```sh" in between and between.count("\n") <= 6  # nothing but the second's intro


def test_ci_installs_what_the_readme_test_command_installs() -> None:
    """CI runs the README's second command; both install the same system packages."""
    def packages(command: str) -> set[str]:
        after = command.split("apt-get install", 1)[1].replace("\\\n", " ")
        words = after.split("\n")[0].split("&&")[0].split(">")[0].split()
        return {word for word in words if not word.startswith("-")}

    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert packages(ci) == packages(SECOND_COMMAND)
    assert ".venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest" in ci


def test_the_readme_links_resolve() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        if "://" not in link:
            assert (REPO / link).exists(), link


def test_the_license_is_mit_as_pyproject_says() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "the sensor-gateway authors" in text
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()
