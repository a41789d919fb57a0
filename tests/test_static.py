"""The style gate runs with the suite: ruff and mypy --strict must be clean."""

from __future__ import annotations

import subprocess
import sys

from support.daemon import REPO

# What pyproject's [tool.mypy] `files` lists: the packages, the benchmarks, the tests and the
# docs' Python (the site's hooks, the example driver).
TYPED = ("gateway", "drivers", "bench", "tests", "docs")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=300)


def test_ruff_clean() -> None:
    result = run("ruff", "check", *TYPED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    """Plain ``mypy`` (config in pyproject) checks every Python file of TYPED, tests included."""
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    sources = [path for top in TYPED for path in (REPO / top).rglob("*.py")]
    assert f"no issues found in {len(sources)} source files" in result.stdout, result.stdout
