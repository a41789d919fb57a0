"""The results table, and ``--record``: append it to bench/RESULTS.md with date, machine, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import Row

RESULTS = Path(__file__).with_name("RESULTS.md")


def table(rows: list[Row]) -> str:
    lines = ["| scenario | result | target | met | vs C client |", "|---|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**NO**", None: ""}[row.met]
        lines.append(f"| {row.scenario} | {row.result} | {row.target} | {met} | {row.ratio} |")
    return "\n".join(lines)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith(("model name", "hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def header(quick: bool) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = " (--quick: short runs, indicative only)" if quick else ""
    return (f"### {now}{mode}\n\nmachine: {os.cpu_count()} cores, {cpu_model()}, "
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
            f"commit {commit()}")


def record(text: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nNewest last. `python -m bench --record` "
                           "appends a run.\n")
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n" + text + "\n")
