"""The package built as wheels, for installing it offline (deploy/install.sh --package)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from support.components import require
from support.daemon import REPO

PROJECT_WHEEL = "sensor_gateway-*.whl"


def build_wheels(out: Path, scratch: Path, *, dependencies: bool) -> Path:
    """Build the project's wheel into ``out`` (with every runtime dependency's wheel too when
    ``dependencies``) from a copy of the tree in ``scratch``, so the checkout stays clean.
    Returns the project's wheel. Dependencies come through pip as configured (its cache first)."""
    require("wheel", importlib.util.find_spec("wheel") is not None, "pip install wheel")
    src = scratch / "src"
    for name in ("pyproject.toml", "README.md"):
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, src / name)
    for name in ("gateway", "drivers", "deploy"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    deps = [] if dependencies else ["--no-deps"]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q",
                            "--disable-pip-version-check", *deps, "--no-build-isolation",
                            "-w", str(out), str(src)],
                           capture_output=True, text=True, check=False, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    return next(out.glob(PROJECT_WHEEL))
