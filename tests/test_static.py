"""The style gate runs with the suite: ruff and mypy --strict must be clean."""

from __future__ import annotations

import subprocess
import sys

from support.daemon import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=300)


def test_ruff_clean() -> None:
    result = run("ruff", "check", "gateway", "drivers", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
