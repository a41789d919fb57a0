"""Missing real components: fail under CI (CI=true), skip on a developer's machine."""

from __future__ import annotations

import os
import shutil

import pytest


def require(what: str, found: bool, hint: str) -> None:
    if found:
        return
    message = f"{what} is not available ({hint})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def which(name: str, *extra_dirs: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    return shutil.which(name, path=path)
